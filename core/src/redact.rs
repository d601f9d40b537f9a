//! Secrets never leak (SPEC §5.0): store URLs as they may appear in errors, logs, `--json`
//! documents and `Debug` output.

/// `url` with every secret replaced by `***`: the password of the user-info part and the value
/// of every query option whose name speaks of a secret (`password`, `sslpassword`, `token`,
/// `secret`, `key`, `auth`, any case).
///
/// It works on malformed URLs too and errs on the side of hiding: the user-info part runs from
/// `://` to the **last** `@` of the URL, so a password holding an unescaped `/`, `?`, `#` or
/// `@` is hidden whole (an `@` in a query value may hide more than the password — never less).
///
/// ```
/// use credence_core::redact::url;
/// assert_eq!(url("postgres://u:s3cr3t@h:5432/db?sslmode=require"), "postgres://u:***@h:5432/db?sslmode=require");
/// assert_eq!(url("postgres://u:s3/cr?et@h/db"), "postgres://u:***@h/db");
/// assert_eq!(url("postgres://u@h/db?password=s3cr3t"), "postgres://u@h/db?password=***");
/// assert_eq!(url("sqlite:/srv/mem"), "sqlite:/srv/mem");
/// ```
pub fn url(url: &str) -> String {
    let (head, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => match url.find(':') {
            Some(i) => url.split_at(i + 1),
            None => ("", url),
        },
    };
    let (userinfo, after) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at..]),
        None => match looks_like_user_and_password(rest) {
            // `user:password` without `@host`: what would be a port is not a number.
            Some(end) => (Some(&rest[..end]), &rest[end..]),
            None => (None, rest),
        },
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(head);
    if let Some(info) = userinfo {
        match info.split_once(':') {
            Some((user, _)) => {
                out.push_str(user);
                out.push_str(":***");
            }
            None => out.push_str(info),
        }
    }
    match after.split_once('?') {
        Some((base, query)) => {
            out.push_str(base);
            out.push('?');
            out.push_str(&redact_query(query));
        }
        None => out.push_str(after),
    }
    out
}

/// With no `@` in the URL: the end of the authority when it reads `name:text` with a `text`
/// that is no port number (not 1–65535 in digits), so it may be a password.
fn looks_like_user_and_password(rest: &str) -> Option<usize> {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (_, port) = rest[..end].rsplit_once(':')?;
    let is_port = port.len() <= 5 && port.parse::<u16>().is_ok_and(|p| p > 0);
    (!port.is_empty() && !is_port).then_some(end)
}

/// `text` with every store URL in it (a word holding `://`) redacted by [`url`]: for messages
/// that quote what the user typed, such as a command-line parser's.
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains("://") {
            // Punctuation the message put after the URL ("cannot open URL: …") is not part of it.
            let core = word.trim_end_matches([':', ',', '.', ';', ')']);
            out.push_str(&url(core));
            out.push_str(&word[core.len()..]);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '\'' | '"' | '`') {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// True for an option name that names a secret.
fn is_secret_option(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key", "auth", "pwd"].iter().any(|s| name.contains(s))
}

fn redact_query(query: &str) -> String {
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_option(name) => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    parts.join("&")
}

#[cfg(test)]
mod tests {
    use super::url;

    /// Every shape of URL a user may type, with the secret `s3cr3t` (or `s3cr?et`) somewhere.
    #[test]
    fn the_secret_never_survives_redaction() {
        for u in [
            "postgres://u:s3cr3t@h:5432/db",
            "postgres://u:s3cr3t/x@127.0.0.1:5432/test",
            "postgres://u:s3cr?et@127.0.0.1:5432/test",
            "postgres://u:s3cr#et@127.0.0.1:5432/test",
            "postgres://u:s3c@r3t@127.0.0.1:5432/test",
            "postgres://:s3cr3t@/test",
            "postgres://u:s3cr3t@[::1/test",
            "postgres://u:s3cr3t@h:99999/test",
            "postgres://u@h/db?password=s3cr3t",
            "postgres://u@h/db?sslmode=require&PASSWORD=s3cr3t",
            "postgres://u@h/db?sslpassword=s3cr3t&x=1",
            "postgresql://u:s3cr3t@h/db?application_name=a@b",
            "postgres:u:s3cr3t@h/db",
            "postgres://u:s3cr3t",
            "postgres://u:s3cr3t@",
            "postgres://admin:999999/db",
            "postgres://admin:0/db",
        ] {
            let r = url(u);
            assert!(
                !r.contains("s3cr3t")
                    && !r.contains("s3cr?et")
                    && !r.contains("r3t")
                    && !r.contains("999999"),
                "{u} → {r}"
            );
        }
    }

    #[test]
    fn text_redacts_every_url_it_quotes() {
        let msg = "error: unrecognized subcommand 'postgres://u:s3cr3t@h/db'\n  tip: \"postgres://a:b@c\" x";
        let r = super::text(msg);
        assert!(!r.contains("s3cr3t") && !r.contains(":b@"), "{r}");
        assert!(r.contains("unrecognized subcommand 'postgres://u:***@h/db'"), "{r}");
        assert_eq!(
            super::text("cannot open postgres://u:s3cr3t: gone"),
            "cannot open postgres://u:***: gone"
        );
    }

    #[test]
    fn what_is_not_secret_stays() {
        assert_eq!(url("postgres://u@h:5432/db?sslmode=require"), "postgres://u@h:5432/db?sslmode=require");
        assert_eq!(url("memory:"), "memory:");
        assert_eq!(url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(url("garbage"), "garbage");
        assert_eq!(url("postgres://h:5432/db"), "postgres://h:5432/db");
        assert_eq!(url("postgres://[::1]:5432/db"), "postgres://[::1]:5432/db");
        assert_eq!(url(""), "");
    }
}
