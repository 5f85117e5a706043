//! Address-shaped config values: `listeners` / `advertised.listeners` entries
//! (`NAME://host:port`), `listener.security.protocol.map`, `controller.quorum.voters`
//! (`id@host:port`) and `controller.quorum.bootstrap.servers` (`host:port`).
//!
//! Parsers return a plain reason string; the caller wraps it with the key and value into a
//! `ConfigError::InvalidValue` so the operator sees all three.

use std::collections::BTreeMap;
use std::fmt;

/// Kafka's `SecurityProtocol`. Only PLAINTEXT is served today; the others are recognised so
/// that a Kafka config using them fails with "unsupported" rather than "unknown".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's `SecurityProtocol.forName`: case-insensitive.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(Self::Plaintext),
            "SSL" => Some(Self::Ssl),
            "SASL_PLAINTEXT" => Some(Self::SaslPlaintext),
            "SASL_SSL" => Some(Self::SaslSsl),
            _ => None,
        }
    }

    /// Kafka's wire id (`SecurityProtocol.id`), as broker registrations carry it.
    pub(crate) fn id(self) -> i16 {
        match self {
            Self::Plaintext => 0,
            Self::Ssl => 1,
            Self::SaslPlaintext => 2,
            Self::SaslSsl => 3,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One endpoint of `listeners` or `advertised.listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listener {
    /// Listener name, upper-cased as Kafka normalises it (`ListenerName.normalised`).
    pub(crate) name: String,
    /// `None` for `NAME://:port`: bind to all interfaces (Kafka binds the wildcard address;
    /// when advertising such a listener Kafka substitutes the machine's canonical host name).
    pub(crate) host: Option<String>,
    pub(crate) port: u16,
    /// From `listener.security.protocol.map`.
    pub(crate) security_protocol: SecurityProtocol,
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.host.as_deref().unwrap_or("");
        if host.contains(':') {
            write!(f, "{}://[{}]:{}", self.name, host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.name, host, self.port)
        }
    }
}

/// A `host:port` pair (`controller.quorum.bootstrap.servers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPort {
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// One entry of `controller.quorum.voters`: the static Raft voter set (KIP-595).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QuorumVoter {
    pub(crate) id: i32,
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// Split a comma-separated list as Kafka's `parseCsvList` does: trim around commas, drop
/// empty entries.
pub(crate) fn split_csv(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Characters Kafka's listener regex accepts in a host (`[0-9a-zA-Z\-%._:]`).
fn valid_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '%' | '.' | '_' | ':')
}

/// Parse `host:port` or `[v6-host]:port`. `allow_empty_host` is for listeners, where an empty
/// host means all interfaces.
fn parse_host_port(s: &str, allow_empty_host: bool) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("'{s}' has '[' without a closing ']'"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("'{s}' has no ':port' after the bracketed host"))?;
        (host, port)
    } else {
        s.rsplit_once(':')
            .ok_or_else(|| format!("'{s}' is not in the form host:port"))?
    };
    if let Some(c) = host.chars().find(|&c| !valid_host_char(c)) {
        return Err(format!("host '{host}' contains '{c}'"));
    }
    if host.is_empty() && !allow_empty_host {
        return Err(format!("'{s}' has an empty host"));
    }
    let port = parse_port(port)?;
    Ok((host.to_string(), port))
}

fn parse_port(s: &str) -> Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port '{s}' is not a number"));
    }
    s.parse::<u16>()
        .map_err(|_| format!("port {s} is out of range (0-65535)"))
}

/// Parse `listener.security.protocol.map` (`NAME:PROTOCOL,...`). Names are normalised to
/// upper case; a name may appear once.
pub(crate) fn parse_security_protocol_map(
    value: &str,
) -> Result<BTreeMap<String, SecurityProtocol>, String> {
    let mut map = BTreeMap::new();
    for entry in split_csv(value) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| format!("entry '{entry}' is not in the form NAME:PROTOCOL"))?;
        let (name, protocol) = (name.trim().to_ascii_uppercase(), protocol.trim());
        if name.is_empty() {
            return Err(format!("entry '{entry}' has an empty listener name"));
        }
        let protocol = SecurityProtocol::parse(protocol).ok_or_else(|| {
            format!(
                "'{protocol}' is not a security protocol \
                 (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"
            )
        })?;
        if map.insert(name.clone(), protocol).is_some() {
            return Err(format!("listener name {name} appears more than once"));
        }
    }
    Ok(map)
}

/// The listener name of one `NAME://host:port` entry, without validating the rest (Kafka's
/// `EndPoint.parseListenerName`, used before the full parse).
pub(crate) fn listener_name_of(entry: &str) -> Option<String> {
    entry
        .split_once("://")
        .map(|(name, _)| name.trim().to_ascii_uppercase())
}

/// Parse a listener list. `distinct_ports` is true for `listeners` (two sockets cannot bind
/// one port) and false for `advertised.listeners` (Kafka allows advertising one address twice).
pub(crate) fn parse_listeners(
    value: &str,
    protocols: &BTreeMap<String, SecurityProtocol>,
    distinct_ports: bool,
) -> Result<Vec<Listener>, String> {
    let mut out: Vec<Listener> = Vec::new();
    for entry in split_csv(value) {
        let (name, address) = entry
            .split_once("://")
            .ok_or_else(|| format!("'{entry}' is not in the form NAME://host:port"))?;
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() {
            return Err(format!("'{entry}' has an empty listener name"));
        }
        let (host, port) = parse_host_port(address, true).map_err(|e| format!("{entry}: {e}"))?;
        let security_protocol = *protocols.get(&name).ok_or_else(|| {
            format!(
                "no security protocol defined for listener {name}: add {name}:PLAINTEXT to \
                 listener.security.protocol.map"
            )
        })?;
        if out.iter().any(|l| l.name == name) {
            return Err(format!(
                "each listener must have a different name; {name} repeats"
            ));
        }
        if distinct_ports && port != 0 && out.iter().any(|l| l.port == port) {
            return Err(format!(
                "each listener must have a different port; {port} repeats"
            ));
        }
        out.push(Listener {
            name,
            host: (!host.is_empty()).then_some(host),
            port,
            security_protocol,
        });
    }
    Ok(out)
}

/// Parse `controller.quorum.voters` (`id@host:port,...`). Ids are non-negative and distinct.
pub(crate) fn parse_voters(value: &str) -> Result<Vec<QuorumVoter>, String> {
    let mut out: Vec<QuorumVoter> = Vec::new();
    for entry in split_csv(value) {
        let (id, address) = entry
            .split_once('@')
            .ok_or_else(|| format!("voter '{entry}' is not in the form id@host:port"))?;
        let id: i32 = id
            .trim()
            .parse()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| format!("voter '{entry}': id '{id}' is not a non-negative integer"))?;
        let (host, port) =
            parse_host_port(address.trim(), false).map_err(|e| format!("voter '{entry}': {e}"))?;
        if out.iter().any(|v| v.id == id) {
            return Err(format!("voter id {id} appears more than once"));
        }
        out.push(QuorumVoter { id, host, port });
    }
    Ok(out)
}

/// Parse `controller.quorum.bootstrap.servers` (`host:port,...`).
pub(crate) fn parse_bootstrap_servers(value: &str) -> Result<Vec<HostPort>, String> {
    split_csv(value)
        .into_iter()
        .map(|entry| {
            parse_host_port(&entry, false)
                .map(|(host, port)| HostPort { host, port })
                .map_err(|e| format!("'{entry}': {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_map() -> BTreeMap<String, SecurityProtocol> {
        parse_security_protocol_map(
            "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT",
        )
        .unwrap()
    }

    #[test]
    fn listeners() {
        let l = parse_listeners(
            "PLAINTEXT://:9092, controller://127.0.0.1:9093,SSL://[::1]:9094",
            &default_map(),
            true,
        )
        .unwrap();
        assert_eq!(l[0].name, "PLAINTEXT");
        assert_eq!(l[0].host, None);
        assert_eq!(l[0].port, 9092);
        assert_eq!(l[1].name, "CONTROLLER");
        assert_eq!(l[1].host.as_deref(), Some("127.0.0.1"));
        assert_eq!(l[1].security_protocol, SecurityProtocol::Plaintext);
        assert_eq!(l[2].host.as_deref(), Some("::1"));
        assert_eq!(l[2].security_protocol, SecurityProtocol::Ssl);
        assert_eq!(l[2].to_string(), "SSL://[::1]:9094");
        assert_eq!(l[0].to_string(), "PLAINTEXT://:9092");
    }

    #[test]
    fn listener_errors() {
        let m = default_map();
        let err = |v: &str| parse_listeners(v, &m, true).unwrap_err();
        assert!(err("PLAINTEXT:9092").contains("NAME://host:port"));
        assert!(err("PLAINTEXT://host").contains("host:port"));
        assert!(err("PLAINTEXT://host:99999").contains("out of range"));
        assert!(err("PLAINTEXT://host:-1").contains("not a number"));
        assert!(err("PLAINTEXT://ho st:1").contains("contains ' '"));
        assert!(err("INTERNAL://:1").contains("no security protocol defined for listener"));
        assert!(err("PLAINTEXT://:1,PLAINTEXT://:2").contains("different name"));
        assert!(err("PLAINTEXT://:1,SSL://:1").contains("different port"));
        assert!(parse_listeners("PLAINTEXT://:1,SSL://:1", &m, false).is_ok());
        assert!(parse_listeners("PLAINTEXT://:0,SSL://:0", &m, true).is_ok());
        assert!(parse_listeners("", &m, true).unwrap().is_empty());
    }

    #[test]
    fn voters() {
        let v = parse_voters("1@localhost:9093, 2@[::1]:9094,3@h3:9095").unwrap();
        assert_eq!(
            v[0],
            QuorumVoter {
                id: 1,
                host: "localhost".into(),
                port: 9093
            }
        );
        assert_eq!(v[1].host, "::1");
        assert_eq!(v.len(), 3);
        assert!(parse_voters("").unwrap().is_empty());
        assert!(parse_voters("localhost:9093")
            .unwrap_err()
            .contains("id@host:port"));
        assert!(parse_voters("x@h:1").unwrap_err().contains("non-negative"));
        assert!(parse_voters("-1@h:1").unwrap_err().contains("non-negative"));
        assert!(parse_voters("1@:1").unwrap_err().contains("empty host"));
        assert!(parse_voters("1@h:1,1@g:2")
            .unwrap_err()
            .contains("more than once"));
    }

    #[test]
    fn protocol_map() {
        assert!(parse_security_protocol_map("A:TLS")
            .unwrap_err()
            .contains("not a security"));
        assert!(parse_security_protocol_map("A")
            .unwrap_err()
            .contains("NAME:PROTOCOL"));
        assert!(parse_security_protocol_map("a:plaintext,A:SSL")
            .unwrap_err()
            .contains("more than once"));
        assert_eq!(
            parse_security_protocol_map("internal : plaintext").unwrap()["INTERNAL"],
            SecurityProtocol::Plaintext
        );
    }

    #[test]
    fn bootstrap_servers() {
        let b = parse_bootstrap_servers("a:1,b:2").unwrap();
        assert_eq!(
            b[1],
            HostPort {
                host: "b".into(),
                port: 2
            }
        );
        assert!(parse_bootstrap_servers("a").is_err());
    }
}
