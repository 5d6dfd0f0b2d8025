use super::log::LogStore;
use super::*;
use std::time::Duration;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("mdbd.toml"), text)
}

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:6432"

[[user]]
name = "demo"
auth = "trust"

[[backend]]
name = "a"
kind = "sqlite"
path = "a.db"

[[backend]]
name = "b"
kind = "sqlite"
path = "b.db"
"#;

#[test]
fn a_good_file_loads_with_defaults() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.backends.len(), 2);
    assert_eq!(c.server.admin_listen, "127.0.0.1:6480");
    assert_eq!(c.log.durability, "fsync");
    assert_eq!(c.backends[1].marker_table, "mdbd_state");
}

#[test]
fn unknown_keys_and_bad_values_name_their_line() {
    let e = parse(&GOOD.replace("listen = ", "listn = ")).unwrap_err();
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.to_string().contains("unknown field `listn`"), "{e}");
    assert!(
        e.to_string().contains("listen"),
        "the hint names the expected keys: {e}"
    );
    let e = parse(&GOOD.replacen("kind = \"sqlite\"", "kind = \"oracle\"", 1)).unwrap_err();
    assert_eq!(e.line, Some(11), "{e}");
    assert!(
        e.to_string()
            .starts_with("mdbd.toml:11: unknown variant `oracle`"),
        "{e}"
    );
    let e = parse(&GOOD.replace("\"127.0.0.1:6432\"", "\"localhost\"")).unwrap_err();
    assert_eq!(e.line, Some(3), "{e}");
}

#[test]
fn cluster_rules_are_checked() {
    let mixed = GOOD.replacen(
        "kind = \"sqlite\"\npath = \"b.db\"",
        "kind = \"postgres\"\nconninfo = \"host=x\"",
        1,
    );
    assert!(parse(&mixed)
        .unwrap_err()
        .message
        .contains("a cluster is of one kind"));
    let dup = GOOD.replace("name = \"b\"", "name = \"a\"");
    assert!(parse(&dup).unwrap_err().message.contains("defined twice"));
    let no_path = GOOD.replace("path = \"b.db\"\n", "");
    assert!(parse(&no_path).unwrap_err().message.contains("needs path"));
    let open_trust = GOOD.replace("127.0.0.1:6432", "0.0.0.0:6432");
    assert!(parse(&open_trust).unwrap_err().message.contains("loopback"));
    assert!(parse("[server]\n").unwrap_err().message.contains("backend"));
}

#[test]
fn durations() {
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
    assert!(parse_duration("2").is_err());
    assert!(parse_duration("2 weeks").is_err());
}

#[test]
fn client_threads_default_to_one_loop_and_refuse_zero() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.server.client_threads, None);
    assert_eq!(crate::cmd::loops::DEFAULT_THREADS, 1);
    let c = parse(&GOOD.replace("[server]\n", "[server]\nclient_threads = 3\n")).unwrap();
    assert_eq!(c.server.client_threads, Some(3));
    let e = parse(&GOOD.replace("[server]\n", "[server]\nclient_threads = 0\n")).unwrap_err();
    assert!(e.to_string().contains("client_threads = 0"), "{e}");
}

#[test]
fn consistency_is_serial_by_default_keyed_on_request_and_nothing_else() {
    use mdbd_engine::cluster::Consistency;
    let c = parse(GOOD).unwrap();
    assert_eq!(c.cluster_options().consistency, Consistency::Serial);
    assert_eq!(
        c.backend_lock_timeout(),
        None,
        "only keyed sets lock_timeout"
    );
    let keyed = GOOD.replace(
        "[server]\n",
        "[server]\nconsistency = \"keyed\"\nlock_wait_timeout = \"3s\"\n",
    );
    let c = parse(&keyed).unwrap();
    let options = c.cluster_options();
    assert_eq!(options.consistency, Consistency::Keyed);
    assert_eq!(options.lock_wait, std::time::Duration::from_secs(3));
    assert_eq!(
        c.backend_lock_timeout(),
        Some(std::time::Duration::from_secs(1))
    );
    let e =
        parse(&GOOD.replace("[server]\n", "[server]\nconsistency = \"eventual\"\n")).unwrap_err();
    assert!(e.to_string().contains("\"serial\" or \"keyed\""), "{e}");
    let e =
        parse(&GOOD.replace("[server]\n", "[server]\nlock_wait_timeout = \"0s\"\n")).unwrap_err();
    assert!(e.to_string().contains("lock_wait_timeout"), "{e}");
}

#[test]
fn the_log_on_jetstream_is_configured_and_checked() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.log.store, LogStore::Sled);
    let js = format!(
        "{GOOD}\n[log]\nstore = \"jetstream\"\n\n[log.jetstream]\nservers = [\"nats://10.0.0.1:4222\", \"nats://10.0.0.2:4222\"]\nname = \"orders\"\nreplicas = 3\n"
    );
    let c = parse(&js).unwrap();
    assert_eq!(c.log.store, LogStore::Jetstream);
    assert_eq!(c.log.jetstream.servers.len(), 2);
    assert_eq!(
        (c.log.jetstream.name.as_str(), c.log.jetstream.replicas),
        ("orders", 3)
    );
    let e = parse(&js.replace("\"orders\"", "\"or.ders\"")).unwrap_err();
    assert!(e.to_string().contains("log name \"or.ders\""), "{e}");
    let e = parse(&js.replace("replicas = 3", "replicas = 7")).unwrap_err();
    assert!(e.to_string().contains("replicas = 7"), "{e}");
    let e = parse(&js.replace("store = \"jetstream\"", "store = \"s3\"")).unwrap_err();
    assert!(e.to_string().contains("unknown variant `s3`"), "{e}");
    let e = parse(&js.replace(
        "servers = [\"nats://10.0.0.1:4222\", \"nats://10.0.0.2:4222\"]",
        "servers = []",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("at least one nats://"), "{e}");
}
