//! The parameter shapes the supply's commands take, each checked to the SCPI error the
//! instrument reports for it.

use crate::scpi::{self, is_channel_list, parse_numeric, Numeric};

/// `[<chanlist>]`.
pub(super) fn optional_list<'a>(params: &[&'a str]) -> Result<Option<&'a str>, i32> {
    match params {
        [] => Ok(None),
        [list] if is_channel_list(list) => Ok(Some(list)),
        [_] => Err(scpi::DATA_TYPE_ERROR),
        _ => Err(scpi::PARAMETER_NOT_ALLOWED),
    }
}

/// `<value>[,<chanlist>]`.
pub(super) fn value_and_list<'a>(params: &[&'a str]) -> Result<(&'a str, Option<&'a str>), i32> {
    match params {
        [] => Err(scpi::MISSING_PARAMETER),
        [only] if is_channel_list(only) => Err(scpi::MISSING_PARAMETER),
        [value] => Ok((value, None)),
        [value, list] if is_channel_list(list) => Ok((value, Some(list))),
        [_, _] => Err(scpi::DATA_TYPE_ERROR),
        _ => Err(scpi::PARAMETER_NOT_ALLOWED),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Bound {
    Min,
    Max,
}

/// `[MIN|MAX][,<chanlist>]` of a setting query.
pub(super) fn bound_and_list<'a>(
    params: &[&'a str],
) -> Result<(Option<Bound>, Option<&'a str>), i32> {
    let bound = |text: &str| match parse_numeric(text, "") {
        Ok(Numeric::Min) => Ok(Bound::Min),
        Ok(Numeric::Max) => Ok(Bound::Max),
        _ => Err(scpi::ILLEGAL_PARAMETER_VALUE),
    };
    match params {
        [] => Ok((None, None)),
        [list] if is_channel_list(list) => Ok((None, Some(list))),
        [which] => Ok((Some(bound(which)?), None)),
        [which, list] if is_channel_list(list) => Ok((Some(bound(which)?), Some(list))),
        [_, _] => Err(scpi::DATA_TYPE_ERROR),
        _ => Err(scpi::PARAMETER_NOT_ALLOWED),
    }
}

pub(super) fn no_params(params: &[&str]) -> Result<(), i32> {
    if params.is_empty() {
        Ok(())
    } else {
        Err(scpi::PARAMETER_NOT_ALLOWED)
    }
}

/// An 8-bit register value (`*ESE 32`).
pub(super) fn parse_register(params: &[&str]) -> Result<u8, i32> {
    match parse_numeric(single_param(params)?, "")? {
        Numeric::Value(v) if (0.0..=255.0).contains(&v.round()) => Ok(v.round() as u8),
        Numeric::Value(_) => Err(scpi::DATA_OUT_OF_RANGE),
        _ => Err(scpi::DATA_TYPE_ERROR),
    }
}

/// Exactly one parameter (`INST:SEL CH2`).
pub(super) fn single_param<'a>(params: &[&'a str]) -> Result<&'a str, i32> {
    match params {
        [which] => Ok(which),
        [] => Err(scpi::MISSING_PARAMETER),
        _ => Err(scpi::PARAMETER_NOT_ALLOWED),
    }
}
