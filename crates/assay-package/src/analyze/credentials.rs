//! The environment and credentials: the whole `process.env`/`os.environ` serialised or sent,
//! secret variables read by name, and credential stores named in literals (SSH and cloud
//! keys, registry tokens, browser profiles, crypto wallets, `/etc/passwd`).

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use super::network::is_net_call;
use super::syntax::{EnvUse, Facts, Span};
use super::Sink;
use crate::Severity;

/// Environment variables that hold registry, cloud or CI secrets.
pub(super) const TOKEN_NAMES: &[&str] = &[
    "NPM_TOKEN",
    "NODE_AUTH_TOKEN",
    "NPM_AUTH_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITLAB_TOKEN",
    "CI_JOB_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "PYPI_TOKEN",
    "PYPI_API_TOKEN",
    "TWINE_PASSWORD",
    "DOCKER_PASSWORD",
    "DOCKERHUB_TOKEN",
    "SLACK_TOKEN",
    "DISCORD_TOKEN",
    "OPENAI_API_KEY",
    "HEROKU_API_KEY",
    "CIRCLE_TOKEN",
    "TRAVIS_TOKEN",
    "VERCEL_TOKEN",
    "NETLIFY_AUTH_TOKEN",
    "CODECOV_TOKEN",
    "SONAR_TOKEN",
    "DIGITALOCEAN_TOKEN",
];

/// Calls that turn the whole environment into text.
const SERIALISERS: &[&str] = &[
    "JSON.stringify",
    "querystring.stringify",
    "Buffer.from",
    "btoa",
    "json.dumps",
    "str",
    "repr",
    "pickle.dumps",
    "base64.b64encode",
    "urllib.parse.urlencode",
    "new URLSearchParams",
];

/// (pattern, severity, what it is).
pub(super) const STORES: &[(&str, Severity, &str)] = &[
    (
        r"(?i)\.ssh(?:/|\\|$)|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|authorized_keys",
        Severity::High,
        "SSH keys",
    ),
    (
        r"(?i)\.aws[/\\](?:credentials|config)|\.aws$",
        Severity::High,
        "AWS credentials",
    ),
    (
        r"(?i)\.docker[/\\]config\.json|\.kube[/\\]config|\.git-credentials|\.config[/\\]gcloud|\.azure[/\\]",
        Severity::High,
        "cloud or Git credentials",
    ),
    (
        r"(?i)(?:^|[/\\~])\.npmrc\b|(?:^|[/\\~])\.pypirc\b|\.yarnrc",
        Severity::Medium,
        "package-registry credentials",
    ),
    (
        r"(?i)(?:^|[/\\~])[._]netrc$",
        Severity::Low,
        "netrc credentials, which HTTP clients read by design",
    ),
    (
        r"(?i)^/etc/(?:passwd|shadow)$|/etc/shadow",
        Severity::Medium,
        "the system's user database",
    ),
    (
        r"(?i)Login Data|Local State|User Data[/\\]Default|\.mozilla[/\\]firefox|key4\.db|logins\.json|BraveSoftware|Google[/\\]Chrome|discord[/\\]Local Storage",
        Severity::High,
        "browser or Discord profile data",
    ),
    (
        r"(?i)wallet\.dat|\bExodus[/\\]|\bElectrum[/\\]|atomic[/\\]Local Storage|\bMetaMask\b|nkbihfbeogaeaoehlefnkodbefgpgknn|Ethereum[/\\]keystore|solana[/\\]id\.json",
        Severity::High,
        "crypto-wallet data",
    ),
    (
        r"(?i)\.bash_history|\.zsh_history|\.gnupg[/\\]",
        Severity::Medium,
        "shell history or GnuPG keys",
    ),
];

static STORE_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(STORES.iter().map(|s| s.0)).expect("the credential patterns are valid")
});
static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^(?:{})$", TOKEN_NAMES.join("|"))).expect("the token pattern is valid")
});

pub(super) fn prepare() {
    LazyLock::force(&STORE_SET);
    LazyLock::force(&TOKEN);
}

pub(super) fn check(facts: &Facts, sink: &mut Sink<'_>) {
    for (env, span) in &facts.envs {
        match env {
            EnvUse::Named(name) if TOKEN_NAMES.iter().any(|t| name.contains(t)) => {
                token(name, *span, sink);
            }
            EnvUse::Bulk { sinks } => {
                let sent = sinks.iter().find(|s| {
                    SERIALISERS.contains(&s.as_str()) || is_net_call(s) || s.ends_with(".write")
                });
                match sent {
                    Some(to) => sink.add(
                        "env-bulk-exfil",
                        Severity::High,
                        format!("Hands the whole environment to `{to}`, which serialises or sends every secret in it."),
                        *span,
                    ),
                    None => sink.add(
                        "env-bulk-access",
                        Severity::Low,
                        "Reads the whole environment rather than named variables.".into(),
                        *span,
                    ),
                }
            }
            _ => {}
        }
    }
}

fn token(name: &str, span: Span, sink: &mut Sink<'_>) {
    let name: String = name.chars().take(60).collect();
    sink.add(
        "env-token-access",
        Severity::Medium,
        format!("Reads the secret environment variable `{name}`."),
        span,
    );
}

/// Literals with more words than this are prose (help and error messages), where a path is
/// advice to the user rather than something the code opens.
const MAX_WORDS: usize = 12;

pub(super) fn check_text(text: &str, span: Span, sink: &mut Sink<'_>) {
    if text.len() > 4096 || text.split_whitespace().nth(MAX_WORDS).is_some() {
        return;
    }
    if TOKEN.is_match(text) {
        token(text, span, sink);
    }
    // `is_match` runs a DFA; which pattern matched needs the far slower overlapping search,
    // so it is asked only of the rare literal that matches at all.
    if !STORE_SET.is_match(text) {
        return;
    }
    if let Some(i) = STORE_SET.matches(text).iter().next() {
        let (_, severity, what) = STORES[i];
        sink.add(
            "credential-file-access",
            severity,
            format!("Names a path to {what}."),
            span,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_patterns_match_paths_not_words() {
        let hits = |t: &str| STORE_SET.matches(t).iter().next();
        assert_eq!(hits("~/.ssh/id_rsa"), Some(0));
        assert_eq!(hits(".aws/credentials"), Some(1));
        assert_eq!(hits("/etc/passwd"), Some(5));
        assert_eq!(hits(".netrc"), Some(4));
        assert_eq!(hits("the password is wrong"), None);
        assert_eq!(hits("npmrc"), None);
    }
}
