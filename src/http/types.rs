//! Value types of the edge that the document describes by hand.

use serde::{Deserialize, Deserializer, Serialize};

/// A calendar date `YYYY-MM-DD` with a four-digit year (0001–9999), in bodies and query
/// strings alike. Dates are stored as ISO text, whose order is the date order only for
/// four-digit years: chrono alone would also take `+10000-01-01`, which sorts before
/// `2026-01-01` as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Date(chrono::NaiveDate);

impl Date {
    pub fn parse(text: &str) -> Option<Date> {
        let ok_shape = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().filter(|_| ok_shape)?;
        use chrono::Datelike;
        (date.year() >= 1).then_some(Date(date))
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Date, D::Error> {
        let text = String::deserialize(de)?;
        Date::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid date `{}`, expected YYYY-MM-DD (years 0001-9999)",
                text.escape_default()
            ))
        })
    }
}

impl utoipa::PartialSchema for Date {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .pattern(Some(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
            .into()
    }
}

impl utoipa::ToSchema for Date {}

/// The document's shape of a tag or a settings value: 1 to 50 characters without
/// surrounding whitespace (the validators in `contacts::model` and `account::model`).
/// Written by hand: utoipa's derive takes no length bounds on a newtype.
pub struct Label;

impl utoipa::PartialSchema for Label {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(50))
            .pattern(Some(r"^\S([\s\S]*\S)?$"))
            .into()
    }
}

impl utoipa::ToSchema for Label {}
