//! The `offset` and `limit` parameters of the routes that answer long lists in pages
//! (`/monitor/variables`, `/monitor/status?at=`), and the `before` cursor of the
//! logbook's (`/monitor/logs`, `/monitor/alarms`): checked the same way, said the same way.

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

/// `before=`: the `next` of the page before, a row id (1 or more).
pub fn cursor(value: &str) -> Result<i64, String> {
    match value.parse::<i64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "before={value:?}: the `next` of the page before (a whole number, 1 or more)"
        )),
    }
}
