//! The `offset` and `limit` parameters of the routes that answer long lists in pages
//! (`/monitor/variables`, `/monitor/status?at=`): checked the same way, said the same way.

/// `offset=`: where the page starts, 0 or more.
pub fn offset(value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("offset={value:?}: a whole number, 0 or more"))
}

/// `limit=`: how many on the page, 1 to `most`.
pub fn limit(value: &str, most: usize) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (1..=most).contains(&n) => Ok(n),
        _ => Err(format!("limit={value:?}: a whole number, 1 to {most}")),
    }
}
