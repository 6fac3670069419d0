//! The thermal model of a fermentation chamber: the wort (beer) and the chamber air, each
//! one lumped heat capacity. The heater warms the air, the fridge cools it, the air
//! exchanges heat with the wort and, through the fridge walls, with the room; a
//! fermenting wort makes its own heat.

/// The plant's constants. Powers in W, heat capacities in J/K, conductances in W/K.
#[derive(Clone, Debug)]
pub struct PlantOptions {
    /// Room temperature outside the fridge (°C).
    pub ambient: f64,
    /// Where the wort and the air start (°C).
    pub initial: f64,
    /// 20 l of wort: about 4.2 kJ/(kg K) x 20 kg.
    pub beer_capacity: f64,
    /// The air and the fridge's inner walls.
    pub air_capacity: f64,
    /// Between the wort (through its fermenter) and the air.
    pub beer_to_air: f64,
    /// Between the air and the room, through the fridge's insulation.
    pub air_to_ambient: f64,
    /// Heat the fridge's compressor takes out of the air while it runs.
    pub cooling_power: f64,
    /// Heat the heater puts into the air while it is on.
    pub heater_power: f64,
    /// Heat of an active fermentation, into the wort.
    pub fermentation_heat: f64,
}

impl Default for PlantOptions {
    fn default() -> Self {
        PlantOptions {
            ambient: 21.0,
            initial: 20.0,
            beer_capacity: 84_000.0,
            air_capacity: 6_000.0,
            beer_to_air: 8.0,
            air_to_ambient: 1.5,
            cooling_power: 120.0,
            heater_power: 80.0,
            fermentation_heat: 10.0,
        }
    }
}

/// The two temperatures of the plant (°C).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Temperatures {
    pub beer: f64,
    pub chamber: f64,
}

/// The plant's state and constants.
#[derive(Clone, Debug)]
pub struct Plant {
    pub options: PlantOptions,
    pub temperatures: Temperatures,
}

/// Longest step integrated at once: the air's time constant is minutes, so explicit Euler
/// is stable and accurate at this step.
const MAX_STEP: f64 = 1.0;

impl Plant {
    pub fn new(options: PlantOptions) -> Self {
        let t = options.initial;
        Plant {
            options,
            temperatures: Temperatures {
                beer: t,
                chamber: t,
            },
        }
    }

    /// Advance `seconds` with the heater and the compressor as given (the physical
    /// contacts, not what anyone asked for).
    pub fn step(&mut self, mut seconds: f64, heater: bool, cooler: bool) {
        while seconds > 0.0 {
            let dt = seconds.min(MAX_STEP);
            seconds -= dt;
            let o = &self.options;
            let Temperatures { beer, chamber } = self.temperatures;
            let into_beer = o.beer_to_air * (chamber - beer) + o.fermentation_heat;
            let mut into_air =
                o.beer_to_air * (beer - chamber) + o.air_to_ambient * (o.ambient - chamber);
            if heater {
                into_air += o.heater_power;
            }
            if cooler {
                into_air -= o.cooling_power;
            }
            self.temperatures = Temperatures {
                beer: beer + into_beer / o.beer_capacity * dt,
                chamber: chamber + into_air / o.air_capacity * dt,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heater_warms_cooler_cools_and_idle_drifts_to_ambient() {
        let mut heated = Plant::new(PlantOptions::default());
        heated.step(3600.0, true, false);
        assert!(
            heated.temperatures.chamber > 25.0,
            "{:?}",
            heated.temperatures
        );
        assert!(heated.temperatures.beer > 20.0);

        let mut cooled = Plant::new(PlantOptions::default());
        cooled.step(3600.0, false, true);
        assert!(
            cooled.temperatures.chamber < 10.0,
            "{:?}",
            cooled.temperatures
        );
        assert!(cooled.temperatures.beer < 20.0);

        let mut idle = Plant::new(PlantOptions {
            fermentation_heat: 0.0,
            ..PlantOptions::default()
        });
        idle.step(30.0 * 86_400.0, false, false);
        assert!(
            (idle.temperatures.beer - 21.0).abs() < 0.1,
            "{:?}",
            idle.temperatures
        );
    }
}
