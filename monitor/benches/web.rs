//! Web benchmark: the real `labwire-monitor` binary (release build) serving a history of
//! 24 hours at 1 Hz for 3 variables (86,400 samples each), measured from outside through
//! its real routes. Every figure sits next to a reference measured in the same run on the
//! same machine, because the machines are shared and noisy:
//!
//! 1. a 24-hour plot through `GET /monitor/plot/...`: the first request (which reads all
//!    the samples) and the median of later ones (the page redrawing, which reads only new
//!    samples), next to reading the same samples straight from the database with
//!    `Reader::history` - target < 50 ms;
//! 2. plot requests per second with many requests in flight at once (a 1-hour plot, what
//!    the page loads, and the 24-hour one), next to `GET /monitor/status` at the same
//!    concurrency - target >= 50/s;
//! 3. the command port's `get_status` latency (median and p99) idle, then while plots are
//!    requested as fast as possible - target: within 2x of idle;
//! 4. the bytes of a first page load (`/` and the assets it links) - target < 150 KB.
//!
//! Run with `cargo bench -p labwire-monitor --bench web`.

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use labwire_client::{Client, ClientOptions};
use labwire_monitor::store::{open_reader, Store, StoreOptions, Value};
use labwire_testkit::TempDir;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const DAY: u64 = 86_400;
const KEYS: [&str; 3] = ["ch1_voltage", "ch2_voltage", "ch3_voltage"];
/// Requests in flight at once in the throughput and load phases.
const CONCURRENCY: usize = 8;
const PHASE: Duration = Duration::from_secs(5);
/// `get_status` round trips per probe, and idle/loaded rounds.
const PROBES: usize = 1000;
const ROUNDS: usize = 4;

type Http = hyper_util::client::legacy::Client<HttpConnector, Empty<bytes::Bytes>>;

fn main() {
    let dir = TempDir::new("bench-web");
    let db = dir.path().join("history.sqlite");
    let now = SystemTime::now();
    fill_history(&db, now);

    let config = dir.path().join("monitor.ini");
    std::fs::write(
        &config,
        format!(
            "name = bench\ndb = {}\n[psu1]\nhost = 127.0.0.1\nport = 9\ntemplate = psu.html\n\
             [[plots]]\n[[[voltages]]]\nname = Channel voltages\n\
             values = time, {}\nylabel = Voltage [V]\n",
            db.display(),
            KEYS.join(", ")
        ),
    )
    .unwrap();
    let (monitor, http) = labwire_testkit::start_monitor(&config);
    let command_port = monitor.addr;
    println!(
        "monitor {} (release), history: {} variables x {DAY} samples (24 h at 1 Hz), \
         {CONCURRENCY} requests in flight in the load phases",
        env!("CARGO_PKG_VERSION"),
        KEYS.len()
    );

    // One thread drives the load, so the load generator takes as little CPU from the
    // monitor as it can on a small machine.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client: Http =
            hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
        let day_plot = format!("http://{http}/monitor/plot/psu1/voltages?from=-{DAY}");
        let hour_plot = format!("http://{http}/monitor/plot/psu1/voltages?from=-3600");
        let status = format!("http://{http}/monitor/status");

        // 1. One 24-hour plot at a time: the first request reads every sample, later
        //    ones (a page redrawing) only what is new.
        let start = Instant::now();
        let bytes = fetch(&client, &day_plot).await.len();
        let cold = start.elapsed();
        let mut route = Vec::new();
        for _ in 0..15 {
            let start = Instant::now();
            fetch(&client, &day_plot).await;
            route.push(start.elapsed());
        }
        let (first_read, read) = read_history(&db, now);
        let (first_read, read) = (millis(first_read), millis(read));
        let warm = millis(median(&mut route));
        println!(
            "24 h plot, first request:      {:>8.1} ms (reads 3 x {DAY} samples; {} KB PNG)",
            millis(cold),
            bytes / 1024
        );
        println!(
            "24 h plot, later requests:     {warm:>8.1} ms median of 15 (new samples only) - target < 50 ms"
        );
        println!(
            "  reference, read the samples: {first_read:>8.1} ms on a new connection, {read:.1} ms median after \
             (Reader::history, 3 x {DAY} rows) -> first request / first read = {:.2}, later / read = {:.2}",
            millis(cold) / first_read,
            warm / read
        );

        // 2. Throughput with requests in flight at once.
        let status_rate = throughput(&client, &status, PHASE).await;
        let hour_rate = throughput(&client, &hour_plot, PHASE).await;
        let day_rate = throughput(&client, &day_plot, PHASE).await;
        println!(
            "1 h plots, {CONCURRENCY} in flight:       {hour_rate:>8.1} requests/s - target >= 50/s"
        );
        println!("24 h plots, {CONCURRENCY} in flight:      {day_rate:>8.1} requests/s");
        println!(
            "  reference, GET /monitor/status: {status_rate:>6.0} requests/s -> 1 h plot / status = {:.3}",
            hour_rate / status_rate
        );

        // 3. The command port, idle and under plot load, in alternating rounds so that
        //    noise from elsewhere on a shared machine falls on both sides alike.
        let (mut idle, mut loaded, mut during) = (Vec::new(), Vec::new(), 0);
        for _ in 0..ROUNDS {
            idle.extend(probe(command_port, None).await);
            let stop = Arc::new(AtomicBool::new(false));
            let served = Arc::new(AtomicU64::new(0));
            let mut load = Vec::new();
            for _ in 0..CONCURRENCY {
                let (client, url, stop, served) =
                    (client.clone(), day_plot.clone(), stop.clone(), served.clone());
                load.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        fetch(&client, &url).await;
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
            // Let the load reach its steady state before measuring under it.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let before = served.load(Ordering::Relaxed);
            loaded.extend(probe(command_port, Some(PHASE)).await);
            during += served.load(Ordering::Relaxed) - before;
            stop.store(true, Ordering::Relaxed);
            for task in load {
                task.await.unwrap();
            }
        }
        let (idle, loaded) = (Latency::of(idle), Latency::of(loaded));
        println!(
            "get_status idle:               median {:>7.1} us, p99 {:>7.1} us ({} round trips in {ROUNDS} rounds)",
            idle.median, idle.p99, idle.n
        );
        println!(
            "get_status under plot load:    median {:>7.1} us, p99 {:>7.1} us ({} round trips; {during} 24 h plots served meanwhile)",
            loaded.median, loaded.p99, loaded.n
        );
        println!(
            "  loaded / idle:               median {:.2}x, p99 {:.2}x - target <= 2x",
            loaded.median / idle.median,
            loaded.p99 / idle.p99
        );

        // 4. What a first visit downloads.
        let page = fetch(&client, &format!("http://{http}/")).await;
        let html = String::from_utf8_lossy(&page).into_owned();
        let mut total = page.len();
        let mut assets = Vec::new();
        for link in links(&html, "/static/") {
            let body = fetch(&client, &format!("http://{http}{link}")).await;
            assets.push(format!("{} {} B", link.split('?').next().unwrap(), body.len()));
            total += body.len();
        }
        let mut images = 0;
        for link in links(&html, "/monitor/plot/") {
            images += fetch(&client, &format!("http://{http}{}", link.replace("&#38;", "&")))
                .await
                .len();
        }
        println!(
            "first load: / {} B + {} = {:.1} KB ({:.0}% of the 150 KB budget); \
             the page's plot images (lazy-loaded) add {:.1} KB",
            page.len(),
            assets.join(" + "),
            total as f64 / 1024.0,
            total as f64 / (150.0 * 1024.0) * 100.0,
            images as f64 / 1024.0
        );
    });
}

/// 24 hours of 1 Hz samples ending at `now` for every key, written through the store.
fn fill_history(db: &std::path::Path, now: SystemTime) {
    let store = Store::open(db, StoreOptions::default()).unwrap();
    let start = now - Duration::from_secs(DAY);
    for second in 0..DAY {
        let time = start + Duration::from_secs(second);
        for (i, key) in KEYS.iter().enumerate() {
            let phase = second as f64 / 3600.0 + i as f64;
            let value = 5.0 * (i + 1) as f64 + phase.sin() + ((second * 7919) % 97) as f64 * 1e-3;
            while !store.record_value("psu1", key, time, Value::Number(value)) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    store.close().unwrap();
}

/// The time of reading the plot's samples directly: the first read on a new connection
/// (as the route's first request makes it), and the median of 15 after.
fn read_history(db: &std::path::Path, now: SystemTime) -> (Duration, Duration) {
    let reader = open_reader(db).unwrap();
    let mut times = Vec::new();
    for _ in 0..16 {
        let start = Instant::now();
        for key in KEYS {
            let rows = reader
                .history(
                    "psu1",
                    key,
                    now - Duration::from_secs(DAY + 60),
                    SystemTime::now(),
                    1_000_000,
                )
                .unwrap();
            assert!(rows.len() >= DAY as usize - 1, "{key}: {} rows", rows.len());
        }
        times.push(start.elapsed());
    }
    let first = times.remove(0);
    (first, median(&mut times))
}

async fn fetch(client: &Http, url: &str) -> bytes::Bytes {
    let response = client.get(url.parse().unwrap()).await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.into_body().collect().await.unwrap().to_bytes()
}

/// Requests per second with `CONCURRENCY` requests in flight for `phase`.
async fn throughput(client: &Http, url: &str, phase: Duration) -> f64 {
    let deadline = Instant::now() + phase;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, url) = (client.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                fetch(&client, &url).await;
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

struct Latency {
    median: f64,
    p99: f64,
    n: usize,
}

impl Latency {
    fn of(mut times: Vec<Duration>) -> Latency {
        times.sort();
        let at = |q: f64| micros(times[((times.len() - 1) as f64 * q).round() as usize]);
        Latency {
            median: at(0.5),
            p99: at(0.99),
            n: times.len(),
        }
    }
}

/// `get_status` round trips, one at a time, on a thread of their own so that the load
/// generator's task never delays them: `PROBES` of them, or as many as fit in `within`.
async fn probe(addr: SocketAddr, within: Option<Duration>) -> Vec<Duration> {
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = Client::connect(addr, ClientOptions::default())
                .await
                .unwrap();
            for _ in 0..100 {
                client.call("get_status").await.unwrap();
            }
            let deadline = within.map(|w| Instant::now() + w);
            let mut times = Vec::with_capacity(PROBES);
            while times.len() < PROBES && deadline.is_none_or(|d| Instant::now() < d) {
                let start = Instant::now();
                let reply = client.call("get_status").await.unwrap();
                times.push(start.elapsed());
                assert_eq!(reply.name, "status");
                // Space the probes out a little, as scripts polling the monitor would.
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            times
        })
    })
    .await
    .unwrap()
}

/// The `href`/`src` values in `html` that start with `prefix`.
fn links<'a>(html: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    for attribute in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            let value = &rest[..rest.find('"').unwrap_or(0)];
            if value.starts_with(prefix) {
                found.push(value);
            }
        }
    }
    found
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
