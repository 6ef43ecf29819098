# Calling Axon from Elixir with nothing beyond OTP and Debian packages:
# HTTP with OTP's :httpc (inets), JSON with :jiffy (Debian's erlang-jiffy; Elixir 1.14 has no JSON module).
#
#   sudo apt-get install elixir erlang-jiffy
#   AXON_URL=http://127.0.0.1:8000 AXON_API_KEY=axk_... elixir examples/elixir/axon_example.exs
#
# It defines an agent with an external tool, runs it, answers `requires_action` by executing the tool
# here and resuming the run, then follows a streamed run (reconnecting from the last event id through
# GET /runs/{id}/events if the connection drops). The agent's model is "test" (pydantic-ai's TestModel,
# which calls every tool once), so it runs against a development server without a provider key;
# set AXON_MODEL to use a real one.

defmodule Axon do
  @moduledoc "A tiny Axon client: JSON requests, the error envelope, and SSE with resume."

  def start do
    {:ok, _} = Application.ensure_all_started(:inets)
    {:ok, _} = Application.ensure_all_started(:ssl)
    :ok
  end

  def url, do: System.get_env("AXON_URL", "http://127.0.0.1:8000")
  def key, do: System.get_env("AXON_API_KEY") || raise("set AXON_API_KEY (an axk_... key)")

  defp headers(extra) do
    [{~c"authorization", String.to_charlist("Bearer " <> key())} | extra]
  end

  @doc "Send a JSON request; {:ok, status, body} for 2xx, {:error, status, envelope} otherwise."
  def request(method, path, body \\ nil, extra_headers \\ []) do
    target = String.to_charlist(url() <> path)
    hdrs = headers(extra_headers)

    req =
      case body do
        nil -> {target, hdrs}
        _ -> {target, hdrs, ~c"application/json", :jiffy.encode(body)}
      end

    case :httpc.request(method, req, [timeout: 120_000], body_format: :binary) do
      {:ok, {{_, status, _}, _resp_headers, resp_body}} ->
        decoded = if resp_body == "", do: nil, else: :jiffy.decode(resp_body, [:return_maps])
        if status in 200..299, do: {:ok, status, decoded}, else: {:error, status, decoded}

      {:error, reason} ->
        {:error, :connection, %{"error_type" => "ConnectionError", "message" => inspect(reason), "retryable" => true}}
    end
  end

  @doc "Create the agent, or replace its definition when the name is taken (idempotent)."
  def apply_agent(definition) do
    case request(:post, "/agents", definition) do
      {:ok, 201, agent} ->
        agent

      {:error, 409, _} ->
        {:ok, 200, agent} = request(:put, "/agents/" <> definition["name"], definition)
        agent

      {:error, status, envelope} ->
        raise "could not store the agent (#{status}): #{inspect(envelope)}"
    end
  end

  @doc """
  A run with an Idempotency-Key, retried while the envelope says `retryable` (honouring `retry_after`).
  The same key on every attempt means a retry attaches to the run instead of starting another.
  """
  def run(agent, body, attempts \\ 3) do
    idempotency_key = "elixir-" <> Base.encode16(:crypto.strong_rand_bytes(12), case: :lower)
    post_with_retries("/agents/#{agent}/run", body, idempotency_key, attempts)
  end

  def resume(run_id, answers, attempts \\ 3) do
    idempotency_key = "elixir-resume-" <> run_id
    post_with_retries("/runs/#{run_id}/resume", answers, idempotency_key, attempts)
  end

  defp post_with_retries(path, body, idempotency_key, attempts) do
    case request(:post, path, body, [{~c"idempotency-key", String.to_charlist(idempotency_key)}]) do
      {:ok, _status, result} ->
        {:ok, result}

      {:error, _status, %{"retryable" => true} = envelope} when attempts > 1 and not is_map_key(envelope, "run_id") ->
        Process.sleep(round(1000 * (envelope["retry_after"] || 0.5)))
        post_with_retries(path, body, idempotency_key, attempts - 1)

      {:error, _status, envelope} ->
        {:error, envelope}
    end
  end

  @doc """
  Follow a streamed run, calling `on_event.(event_name, data)` for every event exactly once.
  If the connection drops before the terminal event, resume from the last `id:` seen through
  GET /runs/{id}/events with Last-Event-ID.
  """
  def stream(agent, body, on_event) do
    post_stream("/agents/#{agent}/run/stream?on_disconnect=continue", body, on_event)
  end

  @doc "`resume`, answered as a stream of the continuation's events (`stream/3` returns the terminal event)."
  def resume_stream(run_id, answers, on_event) do
    post_stream("/runs/#{run_id}/resume?stream=true&on_disconnect=continue", answers, on_event)
  end

  defp post_stream(path, body, on_event) do
    idempotency_key = "elixir-" <> Base.encode16(:crypto.strong_rand_bytes(12), case: :lower)
    hdrs = headers([{~c"idempotency-key", String.to_charlist(idempotency_key)}])
    target = {String.to_charlist(url() <> path), hdrs, ~c"application/json", :jiffy.encode(body)}
    follow(:post, target, %{run_id: nil, last: 0, terminal: nil}, on_event, 3).terminal
  end

  defp follow(method, target, state, on_event, reconnects) do
    {:ok, ref} = :httpc.request(method, target, [], sync: false, stream: :self, body_format: :binary)

    case receive_events(ref, "", state, on_event) do
      {:done, state} ->
        state

      {:dropped, %{run_id: run_id} = state} when reconnects > 0 and run_id != nil ->
        IO.puts("  (connection lost after event #{state.last}; resuming)")
        replay = {
          String.to_charlist("#{url()}/runs/#{run_id}/events"),
          headers([{~c"last-event-id", Integer.to_charlist(state.last)}])
        }

        follow(:get, replay, state, on_event, reconnects - 1)

      {:dropped, _state} ->
        raise "the stream broke and could not be resumed"

      {:http_error, status, body} ->
        raise "the stream was refused (#{status}): #{body}"
    end
  end

  defp receive_events(ref, buffer, state, on_event) do
    receive do
      {:http, {^ref, :stream_start, _headers}} ->
        receive_events(ref, buffer, state, on_event)

      {:http, {^ref, :stream, chunk}} ->
        {blocks, rest} = split_blocks(buffer <> chunk)

        case Enum.reduce_while(blocks, state, &handle_block(&1, &2, on_event)) do
          {:terminal, state} -> {:done, state}
          state -> receive_events(ref, rest, state, on_event)
        end

      {:http, {^ref, :stream_end, _headers}} ->
        {:dropped, state}

      {:http, {^ref, {:error, _reason}}} ->
        {:dropped, state}

      {:http, {^ref, {{_, status, _}, _headers, body}}} ->
        {:http_error, status, body}
    after
      60_000 -> {:dropped, state}
    end
  end

  defp split_blocks(text) do
    parts = String.split(String.replace(text, "\r\n", "\n"), "\n\n")
    {Enum.drop(parts, -1), List.last(parts)}
  end

  defp handle_block(block, state, on_event) do
    fields =
      for line <- String.split(block, "\n"), not String.starts_with?(line, ":"), line != "", into: %{} do
        case String.split(line, ":", parts: 2) do
          [name, value] -> {name, String.trim_leading(value, " ")}
          [name] -> {name, ""}
        end
      end

    with %{"event" => event, "data" => data, "id" => id} <- fields,
         seq when seq > state.last <- String.to_integer(id) do
      decoded = :jiffy.decode(data, [:return_maps])
      on_event.(event, decoded)
      state = %{state | run_id: decoded["run_id"], last: seq, terminal: {event, decoded}}

      if event in ["run.completed", "run.requires_action", "run.failed", "run.cancelled"],
        do: {:halt, {:terminal, state}},
        else: {:cont, state}
    else
      _ -> {:cont, state}
    end
  end
end

defmodule Tools do
  @doc "Answers for every pending call of a `requires_action` run: external tools executed here, approvals granted."
  def answer(deferred) do
    results =
      for call <- deferred["calls"], into: %{} do
        IO.puts("  executing #{call["tool_name"]}(#{:jiffy.encode(call["args"])})")
        {call["tool_call_id"], execute(call["tool_name"], call["args"])}
      end

    approvals = for call <- deferred["approvals"], into: %{}, do: {call["tool_call_id"], true}
    %{"tool_results" => results, "approvals" => approvals}
  end

  @doc "The external tool this orchestrator executes when a run pauses with `requires_action`."
  def execute("customer_balance", args) do
    pending = if args["include_pending"] == true, do: 25, else: 0
    %{"currency" => "EUR", "balance" => 1200 + pending}
  end

  def execute(name, _args), do: %{"error" => "unknown tool #{name}"}
end

Axon.start()

agent =
  Axon.apply_agent(%{
    "name" => "elixir-bank-support",
    "model" => System.get_env("AXON_MODEL", "test"),
    "instructions" => "You are a support agent in our bank. The customer is {{customer_name}}.",
    "tools" => [
      %{
        "type" => "external",
        "name" => "customer_balance",
        "description" => "Returns the customer's current balance.",
        "parameters" => %{
          "type" => "object",
          "properties" => %{"include_pending" => %{"type" => "boolean"}}
        }
      }
    ]
  })

IO.puts("agent #{agent["name"]} version #{agent["version"]}")

body = %{"input" => "What is my balance?", "deps" => %{"customer_name" => "Ada"}, "metadata" => %{"caller" => "elixir"}}

# Run; while the run waits for external tools, execute them here and resume.
result =
  Stream.iterate(Axon.run(agent["name"], body), fn
    {:ok, %{"status" => "requires_action", "run_id" => run_id, "deferred" => deferred}} ->
      Axon.resume(run_id, Tools.answer(deferred))
  end)
  |> Enum.find(fn
    {:ok, %{"status" => "requires_action"}} -> false
    _ -> true
  end)

case result do
  {:ok, %{"status" => "completed"} = done} ->
    IO.puts("run #{done["run_id"]} completed: #{:jiffy.encode(done["output"])}")
    IO.puts("usage: #{:jiffy.encode(done["usage"])}")

  {:error, envelope} ->
    IO.puts("run failed: #{envelope["error_type"]}: #{envelope["message"]} (retryable: #{envelope["retryable"]})")
end

# Stream a run and print the events as they arrive; answer `requires_action` with a streamed resume.
print_event = fn
  "text.delta", data -> IO.write(data["delta"])
  "tool.call", data -> IO.puts("  [#{data["seq"]}] tool.call #{data["tool_name"]}")
  "run.completed", data -> IO.puts("\n  [#{data["seq"]}] completed: #{:jiffy.encode(data["output"])}")
  "run.failed", data -> IO.puts("\n  [#{data["seq"]}] failed: #{data["error_type"]}: #{data["message"]}")
  event, data -> IO.puts("  [#{data["seq"]}] #{event}")
end

IO.puts("streaming:")

Stream.iterate(Axon.stream(agent["name"], body, print_event), fn
  {"run.requires_action", data} ->
    IO.puts("resuming #{data["run_id"]} as a stream:")
    Axon.resume_stream(data["run_id"], Tools.answer(data["deferred"]), print_event)
end)
|> Enum.find(fn {event, _data} -> event != "run.requires_action" end)
