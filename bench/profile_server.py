"""Run the service under pyinstrument and write the profile when it is stopped (SIGTERM/SIGINT).

    python bench/profile_server.py --port 8000 --out /tmp/profile.txt

``bench/run.py --profile`` starts the service this way instead of plain uvicorn.
"""

import argparse
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from pyinstrument import Profiler


class _Server(uvicorn.Server):
    """Stop on SIGTERM/SIGINT without re-raising the signal, so the profile gets written."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        def stop(*_: object) -> None:
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    config = uvicorn.Config(
        "app.main:create_app", factory=True, host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )
    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        _Server(config).run()
    finally:
        profiler.stop()
        session = profiler.last_session
        assert session is not None
        session.save(str(args.out.with_suffix(".pyisession")))  # re-render: pyinstrument --load FILE ...
        args.out.write_text(profiler.output_text(unicode=True, color=False, show_all=True))


if __name__ == "__main__":
    main()
