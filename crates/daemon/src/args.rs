//! Typed access to a request's arguments. A named argument may be given as `key=value`
//! or, for people at a prompt, positionally in synopsis order (`set_voltage 1 5` is
//! `set_voltage ch=1 value=5`). Leftover arguments are an error, so a typo never passes
//! silently.

use crate::device::Error;
use labwire_protocol::{parse_bool, parse_number, Message};
use std::ops::RangeInclusive;

pub struct Args<'a> {
    request: &'a Message,
    used_kwargs: Vec<bool>,
    next_positional: usize,
}

impl<'a> Args<'a> {
    pub fn new(request: &'a Message) -> Self {
        Args {
            request,
            used_kwargs: vec![false; request.kwargs.len()],
            next_positional: 0,
        }
    }

    /// The raw text of an optional argument.
    pub fn optional(&mut self, key: &str) -> Option<&'a str> {
        if let Some(index) = self.request.kwargs.iter().position(|(k, _)| k == key) {
            self.used_kwargs[index] = true;
            return Some(self.request.kwargs[index].1.as_str());
        }
        let value = self.request.args.get(self.next_positional)?;
        self.next_positional += 1;
        Some(value.as_str())
    }

    /// The raw text of a required argument.
    pub fn text(&mut self, key: &str) -> Result<&'a str, Error> {
        self.optional(key)
            .ok_or_else(|| Error::missing_argument(format!("{} needs {key}=", self.request.name)))
    }

    pub fn number(&mut self, key: &str) -> Result<f64, Error> {
        let text = self.text(key)?;
        parse_number(text)
            .ok_or_else(|| Error::bad_argument(format!("{key}={text:?} is not a finite number")))
    }

    /// A number within `range`; `unit` is named in the message (e.g. "V").
    pub fn number_in(
        &mut self,
        key: &str,
        range: RangeInclusive<f64>,
        unit: &str,
    ) -> Result<f64, Error> {
        let value = self.number(key)?;
        check_range(key, value, &range, unit)?;
        Ok(value)
    }

    pub fn integer_in(&mut self, key: &str, range: RangeInclusive<i64>) -> Result<i64, Error> {
        let text = self.text(key)?;
        let value: i64 = text
            .parse()
            .map_err(|_| Error::bad_argument(format!("{key}={text:?} is not a whole number")))?;
        if !range.contains(&value) {
            return Err(Error::out_of_range(format!(
                "{key}={value} is outside {}..{}",
                range.start(),
                range.end()
            )));
        }
        Ok(value)
    }

    /// One of a fixed set of words (case-insensitive).
    pub fn choice<T: Copy>(&mut self, key: &str, choices: &[(&str, T)]) -> Result<T, Error> {
        let text = self.text(key)?;
        choices
            .iter()
            .find(|(word, _)| word.eq_ignore_ascii_case(text))
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
                Error::bad_argument(format!(
                    "{key}={text:?}: expected one of {}",
                    words.join(", ")
                ))
            })
    }

    /// `on`/`off`, `1`/`0`, `true`/`false`.
    pub fn switch(&mut self, key: &str) -> Result<bool, Error> {
        let text = self.text(key)?;
        parse_bool(text)
            .ok_or_else(|| Error::bad_argument(format!("{key}={text:?}: expected on or off")))
    }

    /// Refuse anything the command did not ask for.
    pub fn finish(self) -> Result<(), Error> {
        if let Some(extra) = self.request.args.get(self.next_positional) {
            return Err(Error::bad_argument(format!(
                "unexpected argument {extra:?} for {}",
                self.request.name
            )));
        }
        let unused = self
            .request
            .kwargs
            .iter()
            .zip(&self.used_kwargs)
            .find(|(_, used)| !**used);
        match unused {
            Some(((key, _), _)) => Err(Error::bad_argument(format!(
                "unknown argument {key}= for {}",
                self.request.name
            ))),
            None => Ok(()),
        }
    }
}

/// The range check shared by [`Args::number_in`] and devices whose limits are known only
/// after parsing (e.g. per channel).
pub fn check_range(
    key: &str,
    value: f64,
    range: &RangeInclusive<f64>,
    unit: &str,
) -> Result<(), Error> {
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    if value < *range.start() {
        return Err(Error::out_of_range(format!(
            "{key}={value} is below the limit of {}{unit}",
            range.start()
        )));
    }
    if value > *range.end() {
        return Err(Error::out_of_range(format!(
            "{key}={value} is above the limit of {}{unit}",
            range.end()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_protocol::{parse_line, ErrorCode};

    fn request(line: &str) -> Message {
        parse_line(line).unwrap()
    }

    #[test]
    fn keyword_or_positional_in_synopsis_order() {
        for line in ["set ch=2 value=5.5", "set 2 5.5", "set value=5.5 2"] {
            let m = request(line);
            let mut args = Args::new(&m);
            assert_eq!(args.integer_in("ch", 1..=3).unwrap(), 2, "{line}");
            assert_eq!(args.number("value").unwrap(), 5.5, "{line}");
            args.finish().unwrap();
        }
    }

    #[test]
    fn errors_carry_the_right_codes() {
        let m = request("set ch=9 value=abc");
        let mut args = Args::new(&m);
        assert_eq!(
            args.integer_in("ch", 1..=3).unwrap_err().code,
            ErrorCode::OutOfRange
        );
        assert_eq!(
            args.number("value").unwrap_err().code,
            ErrorCode::BadArgument
        );
        assert_eq!(
            args.number("missing").unwrap_err().code,
            ErrorCode::MissingArgument
        );

        let m = request("set value=30");
        let err = Args::new(&m)
            .number_in("value", 0.0..=25.0, "V")
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::OutOfRange);
        assert_eq!(err.message, "value=30 is above the limit of 25 V");

        let m = request("set value=nan");
        assert_eq!(
            Args::new(&m).number("value").unwrap_err().code,
            ErrorCode::BadArgument
        );
    }

    #[test]
    fn leftovers_are_refused() {
        let m = request("set_unit unit=torr colour=red");
        let mut args = Args::new(&m);
        args.text("unit").unwrap();
        let err = args.finish().unwrap_err();
        assert!(err.message.contains("colour"), "{}", err.message);

        let m = request("set_unit torr extra");
        let mut args = Args::new(&m);
        args.text("unit").unwrap();
        assert!(args.finish().unwrap_err().message.contains("extra"));
    }

    #[test]
    fn choices_and_switches() {
        let m = request("x unit=TORR state=off");
        let mut args = Args::new(&m);
        assert_eq!(args.choice("unit", &[("mbar", 0), ("torr", 1)]).unwrap(), 1);
        assert!(!args.switch("state").unwrap());
        let m = request("x unit=psi");
        let err = Args::new(&m)
            .choice("unit", &[("mbar", 0), ("torr", 1)])
            .unwrap_err();
        assert_eq!(err.message, "unit=\"psi\": expected one of mbar, torr");
    }
}
