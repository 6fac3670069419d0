//! The controllers this driver knows and what each has: inputs, loops and the heater
//! ranges of every loop.

use crate::reply::LoopType;

/// A supported Cryo-con controller, told by the model field of `*IDN?`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// Inputs A-D, loops 1-4.
    Cryocon24C,
    /// Inputs A-B, loops 1-2.
    Cryocon22C,
}

const INPUTS: [char; 4] = ['A', 'B', 'C', 'D'];

impl Model {
    pub const KNOWN: &'static str = "24C and 22C";

    /// The model for an `*IDN?` model field; `None` for one this driver does not know.
    pub fn from_idn(field: &str) -> Option<Model> {
        match field.trim().to_ascii_uppercase().as_str() {
            "24C" => Some(Model::Cryocon24C),
            "22C" => Some(Model::Cryocon22C),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Model::Cryocon24C => "24C",
            Model::Cryocon22C => "22C",
        }
    }

    /// The input letters, in order.
    pub fn inputs(self) -> &'static [char] {
        match self {
            Model::Cryocon24C => &INPUTS,
            Model::Cryocon22C => &INPUTS[..2],
        }
    }

    /// Loop numbers run from 1 to this.
    pub fn loop_count(self) -> u8 {
        self.inputs().len() as u8
    }

    pub fn has_input(self, input: char) -> bool {
        self.inputs().contains(&input.to_ascii_uppercase())
    }

    pub fn has_loop(self, number: u8) -> bool {
        (1..=self.loop_count()).contains(&number)
    }

    /// The `RANGe` words of a loop: loop 1 is the 50 W heater, loop 2 the smaller one,
    /// loops 3 and 4 voltage outputs.
    pub fn ranges(self, number: u8) -> &'static [&'static str] {
        match number {
            1 => &["HI", "MID", "LOW"],
            2 => &["HI", "LOW"],
            _ => &["10V", "5V"],
        }
    }

    /// Only loop 1 has a selectable heater load (`LOAD 50|25`).
    pub fn has_load(self, number: u8) -> bool {
        number == 1
    }

    /// The loop types the controller accepts.
    pub fn loop_types(self) -> &'static [LoopType] {
        &LoopType::ALL
    }
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
