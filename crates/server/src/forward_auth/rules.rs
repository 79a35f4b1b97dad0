//! Forward-auth route rules: what a proxied request needs, from its host, method and path.
//! Rules are tried in order and the first match wins; `default` applies when none matches.
//! Paths are matched after normalization (percent-decoding, `.` and `..` resolved, repeated
//! slashes merged), so `/a/../admin` and `/%61dmin` are `/admin` to every rule.

use serde::Deserialize;

/// The `[forward_auth]` section of the configuration file, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForwardAuth {
    /// What a request no rule matches needs: `deny` (the default), `authenticated` or
    /// `public`.
    #[serde(default)]
    pub default: Option<String>,
    /// A cookie that may carry the token, besides `Authorization: Bearer`.
    #[serde(default)]
    pub cookie: Option<String>,
    /// Where a browser should sign in: `{url}` is replaced by the original URL, encoded.
    #[serde(default)]
    pub login_url: Option<String>,
    /// Whether a 200 passes the presented token to the upstream in `X-Warden-Token`.
    #[serde(default)]
    pub pass_token: bool,
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

/// One rule, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// `example.com`, or `*.example.com` for any subdomain; absent: any host.
    #[serde(default)]
    pub host: Option<String>,
    /// Methods it applies to; absent or empty: all.
    #[serde(default)]
    pub methods: Vec<String>,
    /// The path pattern: segments that are literal, `*` (one segment, or a glob within one),
    /// `{name}` (one segment, captured) or `**` (any number of segments).
    pub path: String,
    /// `public` or `authenticated`.
    #[serde(default)]
    pub allow: Option<String>,
    /// A global role the caller must act through (an account's own role of the same name
    /// never matches; a tenant's roles are for `permission` rules).
    #[serde(default)]
    pub role: Option<String>,
    /// A permission the engine must allow (roles, Cedar policies, forbids).
    #[serde(default)]
    pub permission: Option<String>,
    /// The resource type for `permission` (default: the permission's part before `:`); its id
    /// is the capture `{id}`, else the first capture.
    #[serde(default)]
    pub resource: Option<String>,
}

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing: it passes.
    Public,
    /// Any valid credential.
    Authenticated,
    /// A credential acting through this role.
    Role(String),
    /// A credential the engine allows `action` on a resource of `kind`.
    Permission {
        /// The action.
        action: String,
        /// The resource type.
        kind: String,
    },
    /// Nothing passes.
    Deny,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Public => write!(f, "public"),
            Self::Authenticated => write!(f, "authenticated"),
            Self::Role(role) => write!(f, "role `{role}`"),
            Self::Permission { action, kind } => write!(f, "permission `{action}` on `{kind}`"),
            Self::Deny => write!(f, "deny"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Glob(String),
    Capture(String),
    Any,
}

/// One rule, compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its position in the file, from 1.
    pub number: usize,
    host: Option<String>,
    methods: Vec<String>,
    path: String,
    segments: Vec<Segment>,
    /// What it requires.
    pub outcome: Outcome,
}

/// The compiled `[forward_auth]` section.
#[derive(Debug, Clone)]
pub struct ForwardAuth {
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// What a request no rule matches needs.
    pub default: Outcome,
    /// The cookie that may carry the token.
    pub cookie: Option<String>,
    /// The sign-in page.
    pub login_url: Option<String>,
    /// Whether a 200 passes the token on.
    pub pass_token: bool,
}

impl Default for ForwardAuth {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            default: Outcome::Deny,
            cookie: None,
            login_url: None,
            pass_token: false,
        }
    }
}

/// The rule a request matched (`None`: the default) and what it captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    /// The rule's number, or `None` for the default.
    pub rule: Option<usize>,
    /// What is required.
    pub outcome: &'a Outcome,
    /// The resource id for a permission (from the captures).
    pub resource_id: String,
}

fn parse_segments(pattern: &str) -> Result<Vec<Segment>, String> {
    if !pattern.starts_with('/') {
        return Err(format!("path `{pattern}` must start with `/`"));
    }
    let mut segments = Vec::new();
    for part in pattern.split('/').filter(|s| !s.is_empty()) {
        let segment = if part == "**" {
            Segment::Any
        } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "path `{pattern}`: `{{{name}}}` is not a capture name"
                ));
            }
            Segment::Capture(name.to_owned())
        } else if part.contains("**") {
            return Err(format!("path `{pattern}`: `**` must be a whole segment"));
        } else if part.contains('*') {
            Segment::Glob(part.to_owned())
        } else if part == "." || part == ".." || part.contains(['{', '}', '%', '\\']) {
            return Err(format!("path `{pattern}`: `{part}` is not a plain segment"));
        } else {
            Segment::Literal(part.to_owned())
        };
        segments.push(segment);
    }
    Ok(segments)
}

fn outcome_of(allow: Option<&str>) -> Result<Outcome, String> {
    match allow {
        Some("public") => Ok(Outcome::Public),
        Some("authenticated") => Ok(Outcome::Authenticated),
        Some("deny") => Ok(Outcome::Deny),
        Some(other) => Err(format!(
            "`{other}` is not an outcome: use public, authenticated or deny"
        )),
        None => Err("no outcome".into()),
    }
}

impl ForwardAuth {
    /// Compiles the section, with every problem found.
    pub fn compile(raw: RawForwardAuth) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let default = match raw.default.as_deref() {
            None => Outcome::Deny,
            Some(text) => outcome_of(Some(text)).unwrap_or_else(|err| {
                problems.push(format!("forward_auth.default: {err}"));
                Outcome::Deny
            }),
        };
        let mut rules = Vec::new();
        for (i, rule) in raw.rules.into_iter().enumerate() {
            let number = i + 1;
            let mut problem =
                |text: String| problems.push(format!("forward_auth rule {number}: {text}"));
            let segments = parse_segments(&rule.path).unwrap_or_else(|err| {
                problem(err);
                Vec::new()
            });
            let chosen = [
                rule.allow.is_some(),
                rule.role.is_some(),
                rule.permission.is_some(),
            ]
            .iter()
            .filter(|set| **set)
            .count();
            if chosen != 1 {
                problem("give exactly one of `allow`, `role` or `permission`".into());
                continue;
            }
            if rule.resource.is_some() && rule.permission.is_none() {
                problem("`resource` goes with `permission`".into());
            }
            let outcome = if let Some(role) = rule.role {
                if role.trim().is_empty() {
                    problem("`role` is empty".into());
                }
                Outcome::Role(role)
            } else if let Some(action) = rule.permission {
                match warden_core::authz::permission::Permission::parse(&action) {
                    Ok(parsed) if !parsed.as_str().contains('*') => {}
                    Ok(_) => problem(format!(
                        "permission `{action}` must be concrete, without `*`"
                    )),
                    Err(err) => problem(format!("permission `{action}`: {err}")),
                }
                let kind = rule
                    .resource
                    .unwrap_or_else(|| action.split(':').next().unwrap_or_default().to_owned());
                Outcome::Permission { action, kind }
            } else {
                outcome_of(rule.allow.as_deref()).unwrap_or_else(|err| {
                    problem(err);
                    Outcome::Deny
                })
            };
            let host = rule.host.map(|h| h.to_ascii_lowercase());
            if let Some(host) = &host {
                let bare = host.strip_prefix("*.").unwrap_or(host);
                if bare.is_empty() || bare.contains(['*', '/', ':']) {
                    problem(format!("host `{host}` must be a name, or `*.` and a name"));
                }
            }
            let mut methods = Vec::new();
            for method in rule.methods {
                let upper = method.to_ascii_uppercase();
                if upper.is_empty() || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
                    problem(format!("`{method}` is not an HTTP method"));
                }
                methods.push(upper);
            }
            rules.push(Rule {
                number,
                host,
                methods,
                path: rule.path,
                segments,
                outcome,
            });
        }
        if problems.is_empty() {
            Ok(Self {
                rules,
                default,
                cookie: raw.cookie.filter(|c| !c.is_empty()),
                login_url: raw.login_url.filter(|u| !u.is_empty()),
                pass_token: raw.pass_token,
            })
        } else {
            Err(problems)
        }
    }

    /// The rule `method host path` matches (`path` already normalized), else the default.
    pub fn decide<'a>(&'a self, method: &str, host: &str, path: &str) -> Matched<'a> {
        let host = host_without_port(host)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for rule in &self.rules {
            // HEAD is answered by GET handlers nearly everywhere: a GET rule covers it.
            let listed = |m: &String| m == method || (method == "HEAD" && m == "GET");
            if !rule.methods.is_empty() && !rule.methods.iter().any(listed) {
                continue;
            }
            if let Some(pattern) = &rule.host {
                let matches = match pattern.strip_prefix("*.") {
                    Some(domain) => host
                        .strip_suffix(domain)
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                    None => *pattern == host,
                };
                if !matches {
                    continue;
                }
            }
            let mut captures = Vec::new();
            if match_segments(&rule.segments, &parts, &mut captures) {
                let resource_id = captures
                    .iter()
                    .find(|(name, _)| *name == "id")
                    .or(captures.first())
                    .map(|(_, value)| (*value).to_owned())
                    .unwrap_or_default();
                return Matched {
                    rule: Some(rule.number),
                    outcome: &rule.outcome,
                    resource_id,
                };
            }
        }
        Matched {
            rule: None,
            outcome: &self.default,
            resource_id: String::new(),
        }
    }

    /// A one-line description of rule `number` (for `explain`).
    pub fn describe(&self, number: usize) -> Option<String> {
        let rule = self.rules.iter().find(|r| r.number == number)?;
        let methods = if rule.methods.is_empty() {
            "any method".to_owned()
        } else {
            rule.methods.join(",")
        };
        let host = rule.host.as_deref().unwrap_or("any host");
        Some(format!("{methods} {host} {}", rule.path))
    }
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn match_segments<'p>(
    pattern: &[Segment],
    path: &[&'p str],
    captures: &mut Vec<(String, &'p str)>,
) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((Segment::Any, rest)) => (0..=path.len()).any(|skip| {
            let mark = captures.len();
            if match_segments(rest, &path[skip..], captures) {
                true
            } else {
                captures.truncate(mark);
                false
            }
        }),
        Some((segment, rest)) => {
            let Some((first, others)) = path.split_first() else {
                return false;
            };
            let here = match segment {
                Segment::Literal(text) => text == first,
                Segment::Glob(glob) => glob_matches(glob, first),
                Segment::Capture(name) => {
                    captures.push((name.clone(), first));
                    true
                }
                // Matched by the arm above.
                Segment::Any => false,
            };
            here && match_segments(rest, others, captures)
        }
    }
}

/// `*` matches any run of characters within one segment.
fn glob_matches(glob: &str, text: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Why a path cannot be normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPath(pub &'static str);

/// Normalizes the path of a request target (query and fragment dropped): percent-decoded
/// once, repeated and trailing slashes merged. Refuses, rather than resolves, everything an
/// upstream could read as another path than the one matched: `.` and `..` segments (raw or
/// encoded; browsers and curl resolve them before sending), `\`, an encoded `/`, `;` path
/// parameters, escapes that do not decode to UTF-8, a `%` left after decoding (double
/// encoding) and control characters.
pub fn normalize_path(target: &str) -> Result<String, BadPath> {
    let raw = target.split(['?', '#']).next().unwrap_or_default();
    if !raw.starts_with('/') {
        return Err(BadPath("the path must start with `/`"));
    }
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(BadPath("the path has a malformed percent escape"))?;
            if hex == b'/' {
                return Err(BadPath("the path holds an encoded `/`"));
            }
            decoded.push(hex);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(decoded).map_err(|_| BadPath("the path is not UTF-8"))?;
    if text.contains('%') {
        return Err(BadPath("the path is percent-encoded twice"));
    }
    if text.chars().any(char::is_control) {
        return Err(BadPath("the path holds control characters"));
    }
    if text.contains(['\\', ';']) {
        return Err(BadPath("the path holds `\\` or `;`"));
    }
    let mut kept: Vec<&str> = Vec::new();
    for segment in text.split('/') {
        match segment {
            "" => {}
            "." | ".." => return Err(BadPath("the path holds a `.` or `..` segment")),
            other => kept.push(other),
        }
    }
    Ok(format!("/{}", kept.join("/")))
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
