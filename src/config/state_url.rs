//! `[state] url`: what can be told of a database URL without connecting.

/// The `sslmode`s read, as libpq names them.
pub const SSL_MODES: [&str; 5] = ["disable", "prefer", "require", "verify-ca", "verify-full"];

/// Why `url` cannot name the state's database, if it cannot.
pub fn check(url: &str) -> Result<(), String> {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return Err("must be empty (the embedded store in state.dir) or a postgres:// URL".into());
    };
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        if k == "sslmode" && !SSL_MODES.contains(&v) {
            return Err(format!(
                "sslmode={v} is not one of {}",
                SSL_MODES.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn only_postgres_urls_with_a_known_sslmode_pass() {
        assert!(check("postgres://a:b@db:5432/x?sslmode=verify-full").is_ok());
        assert!(check("postgresql://db/x").is_ok());
        assert!(check("mysql://db/x").unwrap_err().contains("postgres://"));
        assert!(check("postgres://db/x?sslmode=verify")
            .unwrap_err()
            .contains("verify-full"));
    }
}
