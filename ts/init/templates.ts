// What `iggy-connectors init [dir]` writes: the quick start (random source → Iggy → stdout sink).
// `examples/quickstart/` is exactly this output for `init examples/quickstart` run from the
// repository root (a test keeps them equal), so the two never drift apart.

/** Paths the runtime config refers to, relative to the directory the runtime is started from. */
export interface TemplatePaths {
  /** The config file as the run command names it, e.g. `my-app/config.toml`. */
  readonly config: string
  /** `[connectors] config_dir`. */
  readonly connectors: string
  /** `[state] path`. */
  readonly state: string
}

/** A TOML basic string (its escapes are JSON's for everything a path can hold). */
const toml = (text: string): string => JSON.stringify(text)

export function runtimeConfig(paths: TemplatePaths): string {
  return `# iggy-connectors runtime config, written by \`iggy-connectors init\`. Start the quick start with
#   npx iggy-connectors --config ${paths.config} --embedded-broker
# --embedded-broker starts a development-only Iggy broker at [iggy] address (NOT for production);
# without it the runtime connects to the Iggy server at that address.
# Relative paths below are relative to the directory you start the runtime from.
# Every key, its default and its IGGY_CONNECTORS_<SECTION>_<KEY> override:
# node_modules/iggy-connectors/docs/config.md

[iggy]
address = "127.0.0.1:8090"
username = "iggy"
password = "iggy"

[state]
path = ${toml(paths.state)}

[http]
enabled = true
address = "127.0.0.1:8081"

[http.metrics]
enabled = true
endpoint = "/metrics"

# One TOML file per connector in this directory. A connector names its plugin in \`path\`:
# - a bare name is one of the plugins bundled with this package, e.g.
#     random_source, stdout_sink (used here), postgres_source, postgres_sink
#   (\`npx iggy-connectors plugins\` lists them all; a plugin's README with its keys, where it
#   has one, is node_modules/iggy-connectors/crates/plugins/<name>/README.md);
# - a path (./plugins/libmy_sink) loads any plugin built for Apache Iggy connectors 0.4.0,
#   searched exactly as the upstream runtime does.
# \`npx iggy-connectors validate --config ${paths.config}\` checks every file and plugin.
[connectors]
config_type = "local"
config_dir = ${toml(paths.connectors)}

[logging]
format = "text"
level = "info"
`
}

export const RANDOM_SOURCE = `# A random source: every 500 ms it produces 1–2 JSON messages ({"id", "title", "name", "text"}).
type = "source"
key = "random"
enabled = true
version = 0
name = "Random source"
path = "random_source"

[[streams]]
stream = "quickstart"
topic = "events"
schema = "json"
batch_length = 100
linger_time = "5ms"
create_stream = true
create_topic = true
topic_partitions = 1

[plugin_config]
interval = "500ms"
messages_range = [1, 3]
payload_size = 20

[transforms.add_fields]
enabled = true

[[transforms.add_fields.fields]]
key = "source"
value.static = "quickstart"

[[transforms.add_fields.fields]]
key = "received_at"
value.computed = "date_time"
`

export const STDOUT_SINK = `# A stdout sink: logs every message it consumes (offset and payload).
type = "sink"
key = "stdout"
enabled = true
version = 0
name = "Stdout sink"
path = "stdout_sink"

[[streams]]
stream = "quickstart"
topics = ["events"]
schema = "json"
batch_length = 100
poll_interval = "5ms"
consumer_group = "quickstart_stdout"

[plugin_config]
print_payload = true
`
