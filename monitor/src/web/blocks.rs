//! One block per client on the page, rendered with the template its configuration names
//! (`template =` in monitor.ini): a built-in one compiled in by askama (`default.html`,
//! `psu.html`, `gauge.html`, `cryocon.html`, `ferment.html`), or a plain HTML file from
//! `template_dir`, read at start-up.
//!
//! No block needs Rust of its own. Every template gets the same generic [`BlockData`]: the
//! variables, the numbered groups found from a prefix (`ch<N>_`, [`BlockData::channels`];
//! `loop<N>_`, [`BlockData::groups`]), the device alarms ([`BlockData::alarm_codes`]), and
//! the variables not shown otherwise, for the table of the rest. A user file is plain
//! HTML in which [`CLIENT_PLACEHOLDER`] becomes the (escaped) client name; its `data-var`
//! elements are filled by the page's script, which only ever sets text. The monitor puts it
//! inside the same frame as the built-in blocks: the client's header, then the file, then a
//! table of the variables the file does not show, then the client's plots.

use super::{page::path_segment, range, ClientPage};
use crate::hub::ClientView;
use askama::Template;
use std::path::Path;

/// The block templates compiled into the monitor.
pub const BUILT_IN: [&str; 7] = [
    "default.html",
    "psu.html",
    "gauge.html",
    "cryocon.html",
    "ferment.html",
    "clusterctrl.html",
    "ccd.html",
];

/// In a user template, replaced by the client's name (HTML-escaped).
pub const CLIENT_PLACEHOLDER: &str = "{{client}}";

/// The longest user template file read.
pub const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

pub fn is_built_in(name: &str) -> bool {
    BUILT_IN.contains(&name)
}

/// How one client's block is drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockTemplate {
    /// One of [`BUILT_IN`].
    BuiltIn(&'static str),
    /// A file from `template_dir`: its name and its text as read.
    File { name: String, html: String },
}

impl BlockTemplate {
    /// The template called `name`: the file in `dir` when there is one (so a lab may
    /// replace a built-in block), else the built-in one.
    pub fn load(name: &str, dir: Option<&Path>) -> Result<BlockTemplate, String> {
        if let Some(file) = dir.map(|d| d.join(name)).filter(|f| f.is_file()) {
            let size = std::fs::metadata(&file).map_or(0, |m| m.len());
            if size > MAX_TEMPLATE_BYTES {
                return Err(format!(
                    "{}: {size} bytes; a block template may have {MAX_TEMPLATE_BYTES}",
                    file.display()
                ));
            }
            let html = std::fs::read_to_string(&file)
                .map_err(|err| format!("{}: cannot read: {err}", file.display()))?;
            return Ok(BlockTemplate::File {
                name: name.to_owned(),
                html,
            });
        }
        BUILT_IN
            .iter()
            .find(|built_in| **built_in == name)
            .map(|built_in| BlockTemplate::BuiltIn(built_in))
            .ok_or_else(|| format!("template {name:?} is neither built in nor in template_dir"))
    }

    pub fn name(&self) -> &str {
        match self {
            BlockTemplate::BuiltIn(name) => name,
            BlockTemplate::File { name, .. } => name,
        }
    }

    pub fn render(&self, b: &BlockData) -> askama::Result<String> {
        match self {
            BlockTemplate::BuiltIn("psu.html") => PsuBlock { b }.render(),
            BlockTemplate::BuiltIn("gauge.html") => GaugeBlock { b }.render(),
            BlockTemplate::BuiltIn("cryocon.html") => CryoconBlock { b }.render(),
            BlockTemplate::BuiltIn("ferment.html") => FermentBlock { b }.render(),
            BlockTemplate::BuiltIn("clusterctrl.html") => ClusterctrlBlock { b }.render(),
            BlockTemplate::BuiltIn("ccd.html") => CcdBlock { b }.render(),
            BlockTemplate::BuiltIn(_) => DefaultBlock { b }.render(),
            BlockTemplate::File { html, .. } => {
                let client = escape_html(&b.name);
                let body = html.replace(CLIENT_PLACEHOLDER, &client);
                let shown = shown_keys(&body, &client);
                UserBlock {
                    b,
                    body: &body,
                    rest: b.without(&shown),
                    skip: skip_pattern(&shown),
                }
                .render()
            }
        }
    }
}

/// The keys a user block shows itself: every `data-var="<client>.<key>"` in it.
fn shown_keys(body: &str, client: &str) -> Vec<String> {
    let marker = format!("data-var=\"{client}.");
    body.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &body[at + marker.len()..];
            rest.split_once('"').map(|(key, _)| key.to_owned())
        })
        .filter(|key| labwire_protocol::is_valid_name(key))
        .collect()
}

/// A regular expression (for the page script's `data-skip`) matching exactly `keys`.
fn skip_pattern(keys: &[String]) -> String {
    if keys.is_empty() {
        return String::new();
    }
    let alternatives: Vec<String> = keys.iter().map(|k| k.replace('.', "\\.")).collect();
    format!("^({})$", alternatives.join("|"))
}

/// Text made safe to put into HTML: askama's own escaping, as everywhere on the page.
pub fn escape_html(text: &str) -> String {
    match askama::filters::escape(text, askama::filters::Html) {
        Ok(safe) => safe.to_string(),
        Err(never) => match never {},
    }
}

/// The range buttons under every plot: label and seconds back from now.
pub const PLOT_RANGES: [(&str, u64); 4] = [
    ("15 min", 900),
    ("1 h", 3600),
    ("24 h", 86_400),
    ("7 days", 604_800),
];

/// What every block template gets: one client's configuration and state.
pub struct BlockData {
    pub name: String,
    pub description: String,
    pub address: String,
    pub connected: bool,
    pub legacy: bool,
    pub kind: String,
    pub vars: Vec<(String, String)>,
    pub plots: Vec<PlotView>,
    /// A camera's frames (`ccd.html`); empty for other clients.
    pub camera: CameraView,
}

/// What a camera's block shows of its frames: the latest with its header, and the recent.
#[derive(Clone, Debug, Default)]
pub struct CameraView {
    pub latest: Option<FrameView>,
    pub recent: Vec<FrameView>,
}

/// One stored frame as the page shows it.
#[derive(Clone, Debug)]
pub struct FrameView {
    pub id: i64,
    pub time: String,
    pub date_obs: String,
    /// Seconds as the header gives them, "" when it gives none.
    pub exposure: String,
    pub image_type: String,
    pub object: String,
    pub width: u32,
    pub height: u32,
    pub size: u64,
    pub file: String,
    pub fits: String,
    pub png: String,
    pub header: Vec<String>,
}

impl FrameView {
    pub fn of(frame: &crate::store::FrameRecord) -> FrameView {
        let base = format!("/monitor/frame/{}", frame.id);
        FrameView {
            id: frame.id,
            time: labwire_time::rfc3339(frame.time),
            date_obs: frame.date_obs.clone(),
            exposure: frame
                .exposure
                .map(labwire_protocol::format_number)
                .unwrap_or_default(),
            image_type: frame.image_type.clone(),
            object: frame.object.clone(),
            width: frame.width,
            height: frame.height,
            size: frame.size,
            file: super::frames::file_name(frame),
            fits: format!("{base}.fits"),
            png: format!("{base}.png"),
            header: frame.header.lines().map(str::to_owned).collect(),
        }
    }

    /// The size in MB, one decimal.
    pub fn megabytes(&self) -> String {
        format!("{:.1}", self.size as f64 / 1e6)
    }
}

impl CameraView {
    /// `client`'s frames as the monitor knows them now.
    pub fn of(frames: &crate::frames::Frames, client: &str) -> CameraView {
        CameraView {
            latest: frames.latest(client).as_ref().map(FrameView::of),
            recent: frames
                .recent()
                .iter()
                .filter(|f| f.client == client)
                .map(FrameView::of)
                .collect(),
        }
    }
}

/// One numbered group: the variables `<prefix><n>_<suffix>` (`ch2_voltage`,
/// `loop1_setpoint`).
pub struct Channel {
    pub n: u32,
    /// What its keys start with: `ch2_`, `loop1_`; "" for [`BlockData::ungrouped`].
    pub prefix: String,
    /// (suffix, value), in the client's order.
    pub vars: Vec<(String, String)>,
}

impl Channel {
    /// The value of `ch<n>_<suffix>`, "" when not reported.
    pub fn var(&self, suffix: &str) -> &str {
        self.vars
            .iter()
            .find(|(k, _)| k == suffix)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn on(&self, suffix: &str) -> bool {
        is_on(self.var(suffix))
    }

    /// `ch<n>_name` when the channel has one, else `ch<n>`.
    pub fn name(&self) -> String {
        match self.var("name") {
            "" => format!("ch{}", self.n),
            name => name.to_owned(),
        }
    }
}

fn is_on(value: &str) -> bool {
    matches!(value, "1" | "true" | "on")
}

impl BlockData {
    pub fn new(client: &ClientPage, address: &str, view: ClientView) -> BlockData {
        let span = range::DEFAULT_SPAN.as_secs();
        BlockData {
            name: client.name.clone(),
            description: client.description.clone(),
            address: address.to_string(),
            connected: view.connected,
            legacy: view.legacy,
            kind: view.kind,
            vars: view.vars,
            plots: client
                .plots
                .iter()
                .map(|plot| {
                    let base = format!(
                        "/monitor/plot/{}/{}",
                        path_segment(&client.name),
                        path_segment(&plot.id)
                    );
                    PlotView {
                        src: format!(
                            "{base}?from=-{span}&width={}&height={}",
                            plot.width, plot.height
                        ),
                        base,
                        id: plot.id.clone(),
                        name: if plot.name.is_empty() {
                            plot.id.clone()
                        } else {
                            plot.name.clone()
                        },
                        width: plot.width,
                        height: plot.height,
                        span,
                        vars: stored_vars(&client.name, &plot.values),
                    }
                })
                .collect(),
            camera: CameraView::default(),
        }
    }

    /// The value of `key`, "" when the client has not reported it.
    pub fn var(&self, key: &str) -> &str {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The value of `<prefix><suffix>` (`var_at("temp_", "a")`), "" when not reported.
    pub fn var_at(&self, prefix: &str, suffix: &str) -> &str {
        self.vars
            .iter()
            .find(|(k, _)| k.strip_prefix(prefix) == Some(suffix))
            .map_or("", |(_, v)| v.as_str())
    }

    /// The device alarm `alarm_<code>` is latched.
    pub fn alarm_on(&self, code: &str) -> bool {
        is_on(self.var_at("alarm_", code))
    }

    /// The daemon's `alarm_<code>_message`.
    pub fn alarm_message(&self, code: &str) -> &str {
        self.vars
            .iter()
            .find(|(k, _)| {
                k.strip_prefix("alarm_")
                    .and_then(|rest| rest.strip_suffix("_message"))
                    == Some(code)
            })
            .map_or("", |(_, v)| v.as_str())
    }

    /// A flag variable is set (`1`).
    pub fn on(&self, key: &str) -> bool {
        is_on(self.var(key))
    }

    /// The channel groups the client has shown (`ch<N>_...`), by number; before it has
    /// shown any, channels 1 to `expected` (so a block has its layout before the first poll).
    pub fn channels(&self, expected: u32) -> Vec<Channel> {
        self.groups("ch", expected)
    }

    /// [`BlockData::channels`] for any prefix: the groups `<prefix><N>_...` by number
    /// (`groups("loop", 4)`: a temperature controller's loops).
    pub fn groups(&self, prefix: &str, expected: u32) -> Vec<Channel> {
        let mut channels: Vec<Channel> = Vec::new();
        for (key, value) in &self.vars {
            let Some((n, suffix)) = group_of(prefix, key) else {
                continue;
            };
            let entry = (suffix.to_owned(), value.clone());
            match channels.iter_mut().find(|c| c.n == n) {
                Some(channel) => channel.vars.push(entry),
                None => channels.push(Channel {
                    n,
                    prefix: format!("{prefix}{n}_"),
                    vars: vec![entry],
                }),
            }
        }
        if channels.is_empty() {
            channels = (1..=expected)
                .map(|n| Channel {
                    n,
                    prefix: format!("{prefix}{n}_"),
                    vars: Vec::new(),
                })
                .collect();
        }
        channels.sort_by_key(|c| c.n);
        channels
    }

    /// Every variable as one group with no prefix, for a part template that takes a group
    /// (`_profile.html`: a loop's profile, or the client's own).
    pub fn ungrouped(&self) -> Channel {
        Channel {
            n: 0,
            prefix: String::new(),
            vars: self.vars.clone(),
        }
    }

    /// The variables outside every channel group.
    pub fn unchanneled(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter(|(k, _)| channel_of(k).is_none())
            .cloned()
            .collect()
    }

    /// The `x` of every variable `<prefix><x>` shown, in the client's order; before any,
    /// `expected` (`suffixes("temp_", &["a", "b"])`: a controller's inputs).
    pub fn suffixes(&self, prefix: &str, expected: &[&str]) -> Vec<String> {
        let seen: Vec<String> = self
            .vars
            .iter()
            .filter_map(|(k, _)| k.strip_prefix(prefix))
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect();
        if seen.is_empty() {
            expected.iter().map(|x| x.to_string()).collect()
        } else {
            seen
        }
    }

    /// The codes of the device alarms the client reports (`alarm_<code>` with its
    /// `alarm_<code>_message`, docs/protocol.md); before any, `expected`.
    pub fn alarm_codes(&self, expected: &[&str]) -> Vec<String> {
        let codes: Vec<String> = self
            .vars
            .iter()
            .filter_map(|(k, _)| k.strip_prefix("alarm_"))
            .filter(|code| !code.ends_with("_message"))
            .filter(|code| {
                let message = format!("alarm_{code}_message");
                self.vars.iter().any(|(k, _)| *k == message)
            })
            .map(str::to_owned)
            .collect();
        if codes.is_empty() {
            expected.iter().map(|x| x.to_string()).collect()
        } else {
            codes
        }
    }

    /// The variables except `keys` and those starting with one of `prefixes`.
    pub fn outside(&self, keys: &[&str], prefixes: &[&str]) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter(|(k, _)| !keys.contains(&k.as_str()))
            .filter(|(k, _)| !prefixes.iter().any(|p| k.starts_with(p)))
            .cloned()
            .collect()
    }

    /// The page script's `data-skip` pattern for [`BlockData::outside`].
    pub fn skip_outside(&self, keys: &[&str], prefixes: &[&str]) -> String {
        let escape = |k: &&str| k.replace('.', "\\.");
        let keys: Vec<String> = keys.iter().map(escape).collect();
        let prefixes: Vec<String> = prefixes.iter().map(escape).collect();
        match (keys.is_empty(), prefixes.is_empty()) {
            (true, true) => String::new(),
            (false, true) => format!("^({})$", keys.join("|")),
            (true, false) => format!("^({})", prefixes.join("|")),
            (false, false) => format!("^(({})$|({}))", keys.join("|"), prefixes.join("|")),
        }
    }

    /// The variables except `keys` (those a template shows by itself).
    pub fn without<S: AsRef<str>>(&self, keys: &[S]) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter(|(k, _)| !keys.iter().any(|s| s.as_ref() == k))
            .cloned()
            .collect()
    }

    /// The page script's `data-skip` pattern for `keys`.
    pub fn skip<S: AsRef<str>>(&self, keys: &[S]) -> String {
        let owned: Vec<String> = keys.iter().map(|k| k.as_ref().to_owned()).collect();
        skip_pattern(&owned)
    }

    pub fn state(&self) -> &'static str {
        if self.connected {
            "connected"
        } else {
            "disconnected"
        }
    }

    pub fn ranges(&self) -> &'static [(&'static str, u64)] {
        &PLOT_RANGES
    }
}

pub struct PlotView {
    pub id: String,
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// The route without the query, which the page's range buttons change.
    pub base: String,
    pub src: String,
    /// Seconds back from now the first image shows.
    pub span: u64,
    /// The stored variables it draws, `<client>.<key>` separated by commas: what its CSV
    /// download holds.
    pub vars: String,
}

/// The stored variables of a plot of `values`: all but a `time` abscissa.
fn stored_vars(client: &str, values: &[String]) -> String {
    let skip = usize::from(values.first().is_some_and(|x| x == "time"));
    values[skip.min(values.len())..]
        .iter()
        .map(|key| format!("{client}.{key}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `ch2_voltage` -> (2, "voltage").
pub fn channel_of(key: &str) -> Option<(u32, &str)> {
    group_of("ch", key)
}

/// `group_of("loop", "loop2_setpoint")` -> (2, "setpoint").
pub fn group_of<'k>(prefix: &str, key: &'k str) -> Option<(u32, &'k str)> {
    let (digits, suffix) = key.strip_prefix(prefix)?.split_once('_')?;
    if digits.is_empty() || suffix.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, suffix))
}

#[derive(Template)]
#[template(path = "default.html")]
struct DefaultBlock<'a> {
    b: &'a BlockData,
}

#[derive(Template)]
#[template(path = "psu.html")]
struct PsuBlock<'a> {
    b: &'a BlockData,
}

#[derive(Template)]
#[template(path = "gauge.html")]
struct GaugeBlock<'a> {
    b: &'a BlockData,
}

#[derive(Template)]
#[template(path = "cryocon.html")]
struct CryoconBlock<'a> {
    b: &'a BlockData,
}

#[derive(Template)]
#[template(path = "ferment.html")]
struct FermentBlock<'a> {
    b: &'a BlockData,
}

#[derive(Template)]
#[template(path = "clusterctrl.html")]
struct ClusterctrlBlock<'a> {
    b: &'a BlockData,
}

#[derive(Template)]
#[template(path = "ccd.html")]
struct CcdBlock<'a> {
    b: &'a BlockData,
}

/// A file from `template_dir` in the common frame.
#[derive(Template)]
#[template(path = "_user_block.html")]
struct UserBlock<'a> {
    b: &'a BlockData,
    /// The file with the client's name put in; shown as it is (it is the lab's own HTML).
    body: &'a str,
    rest: Vec<(String, String)>,
    skip: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_groups_come_from_keys() {
        assert_eq!(channel_of("ch2_voltage"), Some((2, "voltage")));
        assert_eq!(channel_of("ch12_ovp_tripped"), Some((12, "ovp_tripped")));
        assert_eq!(channel_of("channel"), None);
        assert_eq!(channel_of("ch_x"), None);
        assert_eq!(channel_of("ch3"), None);
        assert_eq!(channel_of("ch3_"), None);
        assert_eq!(channel_of("chx1_a"), None);
        assert_eq!(channel_of("pressure"), None);
    }

    fn block(vars: &[(&str, &str)]) -> BlockData {
        BlockData {
            name: "c".into(),
            description: String::new(),
            address: String::new(),
            connected: true,
            legacy: false,
            kind: String::new(),
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            plots: Vec::new(),
            camera: CameraView::default(),
        }
    }

    #[test]
    fn groups_suffixes_and_alarms_come_from_keys() {
        assert_eq!(group_of("loop", "loop2_setpoint"), Some((2, "setpoint")));
        assert_eq!(group_of("loop", "loop_x"), None);
        assert_eq!(group_of("loop", "ch1_x"), None);
        let b = block(&[
            ("temp_a", "1"),
            ("alarm_state_a", "--"),
            ("temp_b", "2"),
            ("loop2_setpoint", "3"),
            ("loop1_setpoint", "4"),
            ("loop1_profile", "idle"),
            ("alarm_heater_fault", "1"),
            ("alarm_heater_fault_message", "loop 2 heater: -Overtemp-"),
            ("errors", "0"),
        ]);
        let loops = b.groups("loop", 4);
        assert_eq!(loops.iter().map(|l| l.n).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(loops[0].var("profile"), "idle");
        assert_eq!(b.suffixes("temp_", &["a", "b", "c", "d"]), ["a", "b"]);
        assert_eq!(block(&[]).suffixes("temp_", &["a", "b"]), ["a", "b"]);
        assert_eq!(
            b.alarm_codes(&["x"]),
            ["heater_fault"],
            "alarm_state_a is none"
        );
        assert_eq!(block(&[]).alarm_codes(&["x"]), ["x"]);
        assert_eq!(
            b.outside(&["errors"], &["loop", "temp_", "alarm_"]),
            Vec::<(String, String)>::new()
        );
        assert_eq!(b.outside(&[], &["loop", "temp_", "alarm_"]).len(), 1);
        assert_eq!(
            b.skip_outside(&["unit", "a.b"], &["loop", "temp_"]),
            "^((unit|a\\.b)$|(loop|temp_))"
        );
        assert_eq!(b.skip_outside(&["unit"], &[]), "^(unit)$");
        assert_eq!(b.skip_outside(&[], &["loop"]), "^(loop)");
    }

    #[test]
    fn user_blocks_name_the_keys_they_show() {
        let body = "<b data-var=\"g1.pressure\"></b><i data-var=\"g1.a.b\"></i>\
                    <i data-var=\"other.x\"></i><i data-var=\"g1.bad key\"></i>";
        assert_eq!(shown_keys(body, "g1"), ["pressure", "a.b"]);
        assert_eq!(skip_pattern(&shown_keys(body, "g1")), "^(pressure|a\\.b)$");
        assert_eq!(skip_pattern(&[]), "");
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;"
        );
    }
}
