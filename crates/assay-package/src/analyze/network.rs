//! Network access (modules, `fetch`, sockets) and the URLs and IP addresses in literals,
//! sorted into the categories malware favours: paste sites, webhooks, tunnels, request
//! catchers, raw IP addresses and odd ports.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::LazyLock;

use regex::Regex;

use super::syntax::{Facts, Lang, Span};
use super::{FileCtx, Sink};
use crate::Severity;

pub(super) const JS_MODULES: &[&str] = &[
    "http",
    "https",
    "http2",
    "net",
    "tls",
    "dgram",
    "dns",
    "node-fetch",
    "axios",
    "request",
    "got",
    "undici",
    "ws",
    "socket.io-client",
    "superagent",
    "needle",
];
pub(super) const PY_MODULES: &[&str] = &[
    "socket",
    "urllib",
    "urllib.request",
    "urllib2",
    "urllib3",
    "requests",
    "http.client",
    "httplib",
    "httpx",
    "aiohttp",
    "ftplib",
    "smtplib",
    "telnetlib",
    "paramiko",
    "websocket",
    "websockets",
    "pycurl",
];

/// Browser-style network calls, reported once per file.
pub(super) const BROWSER_CALLS: &[&str] = &["fetch", "new XMLHttpRequest", "new WebSocket"];

/// Calls that open a connection or send a request.
pub(super) fn is_net_call(callee: &str) -> bool {
    let first = callee.split('.').next().unwrap_or("");
    matches!(
        callee,
        "fetch"
            | "new XMLHttpRequest"
            | "new WebSocket"
            | "XMLHttpRequest"
            | "navigator.sendBeacon"
    ) || ([
        "http", "https", "http2", "net", "tls", "dgram", "axios", "got", "needle",
    ]
    .contains(&first)
        && callee.contains('.'))
        || matches!(first, "node-fetch" | "axios" | "got" | "request")
        || callee.starts_with("requests.")
        || callee.starts_with("httpx.")
        || callee.starts_with("urllib.request.url")
        || callee.starts_with("urllib.urlopen")
        || callee.starts_with("urllib2.urlopen")
        || callee.starts_with("socket.socket")
        || callee.starts_with("socket.create_connection")
        || callee.starts_with("http.client.HTTP")
}

pub(super) fn check(ctx: &FileCtx, facts: &Facts, sink: &mut Sink<'_>) {
    let known = match ctx.lang {
        Lang::Js => JS_MODULES,
        Lang::Python => PY_MODULES,
    };
    let mut seen = HashSet::new();
    for import in &facts.imports {
        let m = import.module.as_str();
        if known.contains(&m) && seen.insert(m.to_owned()) {
            sink.add(
                "network-access",
                Severity::Low,
                format!("Imports the network module `{m}`."),
                import.span,
            );
        }
    }
    for call in &facts.calls {
        let c = call.callee.as_str();
        let browserish = BROWSER_CALLS.contains(&c);
        if browserish && seen.insert(c.to_owned()) {
            sink.add(
                "network-access",
                Severity::Low,
                format!("Makes network requests with `{c}`."),
                call.span,
            );
        }
    }
}

static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:(https?|wss?|ftp)://)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,30}|\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?(/[^\s'`<>\x22]*)?",
    )
    .expect("the URL pattern is valid")
});

pub(super) fn prepare() {
    LazyLock::force(&URL);
}

/// (rule, category words, hosts with their subdomains, path prefix the host needs).
pub(super) const CATEGORIES: &[(&str, &str, &[&str], &str)] = &[
    (
        "url-paste-site",
        "a paste or file-drop site",
        &[
            "pastebin.com",
            "paste.ee",
            "hastebin.com",
            "ghostbin.co",
            "rentry.co",
            "rentry.org",
            "pastie.org",
            "termbin.com",
            "dpaste.com",
            "dpaste.org",
            "controlc.com",
            "justpaste.it",
            "transfer.sh",
            "0x0.st",
            "paste.rs",
            "privatebin.net",
            "ix.io",
            "sprunge.us",
            "anonfiles.com",
            "gofile.io",
            "file.io",
        ],
        "",
    ),
    (
        "url-webhook",
        "a chat webhook, a common exfiltration channel",
        &[
            "discord.com",
            "discordapp.com",
            "ptb.discord.com",
            "canary.discord.com",
        ],
        "/api/webhooks",
    ),
    (
        "url-webhook",
        "a chat webhook, a common exfiltration channel",
        &["hooks.slack.com"],
        "",
    ),
    (
        "url-webhook",
        "a chat bot API, a common exfiltration channel",
        &["api.telegram.org"],
        "/bot",
    ),
    (
        "url-tunnel",
        "a tunnelling service that hides the real server",
        &[
            "ngrok.io",
            "ngrok-free.app",
            "ngrok.app",
            "ngrok.dev",
            "trycloudflare.com",
            "serveo.net",
            "loca.lt",
            "localtunnel.me",
            "localhost.run",
            "lhr.life",
            "pagekite.me",
            "bore.pub",
            "playit.gg",
            "portmap.io",
            "tunnelto.dev",
            "onion",
        ],
        "",
    ),
    (
        "url-request-catcher",
        "a request-capture service used to collect stolen data",
        &[
            "webhook.site",
            "requestbin.com",
            "requestbin.net",
            "pipedream.net",
            "burpcollaborator.net",
            "oastify.com",
            "interact.sh",
            "oast.fun",
            "oast.me",
            "oast.pro",
            "oast.live",
            "oast.site",
            "oast.online",
            "canarytokens.com",
            "dnslog.cn",
            "ceye.io",
            "requestcatcher.com",
            "beeceptor.com",
            "hookbin.com",
            "postb.in",
            "ptsv2.com",
            "ptsv3.com",
        ],
        "",
    ),
];

const STANDARD_PORTS: &[u16] = &[80, 443, 8080, 8443, 21, 22];

pub(super) fn check_text(text: &str, span: Span, sink: &mut Sink<'_>) {
    if !text.contains('.') || text.len() > 1 << 16 {
        return;
    }
    for m in URL.captures_iter(text) {
        let scheme = m.get(1).map(|s| s.as_str());
        let host = m.get(2).map_or("", |h| h.as_str()).to_ascii_lowercase();
        let port = m.get(3).and_then(|p| p.as_str().parse::<u16>().ok());
        let path = m.get(4).map_or("", |p| p.as_str());
        let whole = m.get(0).map_or("", |w| w.as_str());
        if let Some((rule, what)) = category(&host, path) {
            sink.add(
                rule,
                Severity::High,
                format!("Names `{}`, {what}.", clip(whole)),
                span,
            );
            continue;
        }
        let ip = host.parse::<Ipv4Addr>().ok();
        if let Some(ip) = ip {
            let public = !(ip.octets()[0] == 0
                || ip.is_private()
                || ip.is_loopback()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast());
            // A bare dotted quad is often a version number; only a whole-literal address or
            // one in a URL counts.
            // Versions look like addresses too: `1.0.0.0`, `3.1.1.6`.
            let version_like = ip.octets()[3] == 0 || ip.octets().iter().all(|o| *o < 10);
            let bare_whole = scheme.is_none() && whole == text.trim() && !version_like;
            if public && (scheme.is_some() || bare_whole) {
                let severity = if scheme.is_some() {
                    Severity::Medium
                } else {
                    Severity::Low
                };
                sink.add(
                    "url-raw-ip",
                    severity,
                    format!(
                        "Names the raw IP address `{}` instead of a host name.",
                        clip(whole)
                    ),
                    span,
                );
            }
            continue;
        }
        if let (Some(_), Some(p)) = (scheme, port) {
            let local = host == "localhost" || host.ends_with(".local");
            if !STANDARD_PORTS.contains(&p) && !local {
                sink.add(
                    "url-nonstandard-port",
                    Severity::Low,
                    format!("Names `{}`, a URL on the unusual port {p}.", clip(whole)),
                    span,
                );
            }
        }
    }
}

fn category(host: &str, path: &str) -> Option<(&'static str, &'static str)> {
    CATEGORIES.iter().find_map(|(rule, what, hosts, prefix)| {
        let hit = hosts
            .iter()
            .any(|h| host == *h || host.ends_with(&format!(".{h}")));
        (hit && path.starts_with(prefix)).then_some((*rule, *what))
    })
}

fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_need_the_right_host_and_path() {
        assert_eq!(
            category("discord.com", "/api/webhooks/1/x").map(|c| c.0),
            Some("url-webhook")
        );
        assert_eq!(category("discord.com", "/invite/x"), None);
        assert_eq!(
            category("abc.ngrok-free.app", "").map(|c| c.0),
            Some("url-tunnel")
        );
        assert_eq!(category("notpastebin.com", ""), None);
    }
}
