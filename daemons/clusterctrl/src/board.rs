//! The ClusterCTRL family as the driver tells its members apart (TYPE, and MAXPI where
//! two share a TYPE) and what each one's firmware is built without. A command a board
//! lacks is refused before anything is written to it.

/// One member of the ClusterCTRL family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BoardType {
    Da,
    Triple,
    Phat,
    APlus6,
    Single,
    Stack,
}

impl BoardType {
    /// From the TYPE and MAXPI registers (the A+6 and the Single are both TYPE 3).
    pub fn identify(type_code: u8, max_pi: u8) -> Option<BoardType> {
        Some(match (type_code, max_pi) {
            (0, _) => BoardType::Da,
            (1, _) => BoardType::Triple,
            (2, _) => BoardType::Phat,
            (3, 1) => BoardType::Single,
            (3, _) => BoardType::APlus6,
            (4, _) => BoardType::Stack,
            _ => return None,
        })
    }

    /// The name `boardK_type` reports.
    pub fn name(self) -> &'static str {
        match self {
            BoardType::Da => "da",
            BoardType::Triple => "triple",
            BoardType::Phat => "phat",
            BoardType::APlus6 => "aplus6",
            BoardType::Single => "single",
            BoardType::Stack => "stack",
        }
    }

    /// USBBOOT_EN/DIS, GET_USTATUS and SAVEUSBBOOT do something (Compute Module slots).
    pub fn has_usbboot(self) -> bool {
        matches!(self, BoardType::Triple | BoardType::Single)
    }

    /// FAN 1/0 switches a fan.
    pub fn has_fan(self) -> bool {
        matches!(self, BoardType::APlus6 | BoardType::Stack)
    }

    /// GET_DATA 4 reads the fan back (the Stack keeps its fan state in firmware).
    pub fn has_fan_status(self) -> bool {
        self == BoardType::Stack
    }

    /// HUB_CYCLE has a hub to cycle (the Stack's nodes hang off no hub of its own).
    pub fn has_hub(self) -> bool {
        self != BoardType::Stack
    }

    /// "All LEDs on" (LED_EN 0) also powers every Pi on the pHAT's firmware, so the
    /// driver enables the LEDs one by one there.
    pub fn led_all_powers_pis(self) -> bool {
        self == BoardType::Phat
    }
}
