# The README's two commands: `make run` and `make test`. Both work on a machine with only Python:
# uv is installed into .tools/ when it is not already on PATH.
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
UV_VERSION := 0.13.8

.PHONY: run test lint typecheck pytest fuzz install bench clean

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

# Bytecode compiled once here: every test subprocess (CLI, servers) would otherwise compile
# pydantic-ai, openai, SQLAlchemy… from source again when PYTHONDONTWRITEBYTECODE is set.
install: $(UV)
	$(UV) sync --frozen --compile-bytecode

run: install
	$(UV) run --frozen axon serve

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: install
	$(UV) run --frozen pyright

pytest: install
	$(UV) run --frozen pytest -n auto $(PYTEST_ARGS)

test: lint typecheck pytest

# The schemathesis run of `make test` (tests/fuzz) with the deeper profile: every phase, coverage
# included, and many more cases per operation. AXON_FUZZ_SEED=N for another seed.
fuzz: install
	AXON_FUZZ_PROFILE=deep AXON_FUZZ_STATS=1 $(UV) run --frozen pytest -s -p no:cacheprovider tests/fuzz $(PYTEST_ARGS)

clean:
	rm -rf .venv .tools .pytest_cache .ruff_cache
