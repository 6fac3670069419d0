//! `Option<SystemTime>` in the state file as an exact UTC time (or null), for serde:
//! written by [`labwire_time::rfc3339_exact`], read by [`labwire_time::parse_utc`].

pub(crate) mod serde_optional {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::SystemTime;

    pub(crate) fn serialize<S: Serializer>(
        time: &Option<SystemTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => serializer.serialize_some(&labwire_time::rfc3339_exact(*time)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        text.map(|text| labwire_time::parse_utc(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}
