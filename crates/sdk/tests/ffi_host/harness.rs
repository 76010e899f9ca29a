//! Builds and loads the plugins, and records what they send back through the callbacks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use iggy_connectors_sdk::ProducedMessages;
use libloading::Library;

pub const PLUGINS: [&str; 4] = [
    "iggy_connector_random_source",
    "iggy_connector_stdout_sink",
    "iggy_connector_panicking_source",
    "iggy_connector_panicking_sink",
];

pub type LogCallback = extern "C" fn(u8, *const u8, usize, *const u8, usize);
pub type SendCallback = extern "C" fn(u32, *const u8, usize);
pub type SendCallbackV2 = extern "C" fn(u32, u64, *const u8, usize) -> i32;
pub type SourceOpen =
    unsafe extern "C" fn(u32, *const u8, usize, *const u8, usize, Option<LogCallback>) -> i32;
pub type SinkOpen = unsafe extern "C" fn(u32, *const u8, usize, Option<LogCallback>) -> i32;
pub type SinkConsume =
    unsafe extern "C" fn(u32, *const u8, usize, *const u8, usize, *const u8, usize) -> i32;

/// `target/debug`, where both this test binary's parent and the plugins live.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .to_path_buf()
}

pub fn library_path(crate_name: &str) -> PathBuf {
    target_dir().join(format!(
        "{}{crate_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

fn build_plugins() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        // A child test process (see the stdout test) reuses what its parent built.
        // `scripts/rust-tests.mjs` built the whole workspace before any test binary started:
        // a nested per-package build could relink plugin files other test processes load.
        if std::env::var_os("IGGY_SDK_PLUGINS_BUILT").is_some()
            || std::env::var_os("IGGY_TEST_ARTIFACTS_BUILT").is_some()
        {
            return;
        }
        let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let mut command = Command::new(env!("CARGO"));
        command.current_dir(workspace).arg("build");
        for name in PLUGINS {
            command.args(["-p", name]);
        }
        if target_dir().ends_with("release") {
            command.arg("--release");
        }
        let status = command.status().expect("run cargo build for the plugins");
        assert!(status.success(), "cargo build of the plugins failed");
    });
}

/// Each library is loaded once per process and never unloaded (as the engine does).
pub fn library(crate_name: &str) -> &'static Library {
    static LIBRARIES: OnceLock<Mutex<HashMap<String, &'static Library>>> = OnceLock::new();
    build_plugins();
    let mut libraries = LIBRARIES.get_or_init(Default::default).lock().unwrap();
    libraries.entry(crate_name.to_owned()).or_insert_with(|| {
        let path = library_path(crate_name);
        // SAFETY: our own plugin, whose initializers are plain Rust statics.
        let library = unsafe { Library::new(&path) }
            .unwrap_or_else(|error| panic!("load {}: {error}", path.display()));
        Box::leak(Box::new(library))
    })
}

pub fn symbol<T: Copy>(crate_name: &str, name: &str) -> T {
    // SAFETY: the caller names the symbol with its documented signature.
    unsafe {
        *library(crate_name)
            .get::<T>(name.as_bytes())
            .unwrap_or_else(|error| panic!("{crate_name}: symbol {name}: {error}"))
    }
}

#[derive(Debug, Clone)]
pub struct LogLine {
    pub level: u8,
    pub target: String,
    pub message: String,
}

static LOGS: Mutex<Vec<LogLine>> = Mutex::new(Vec::new());

pub extern "C" fn log_callback(
    level: u8,
    target: *const u8,
    target_len: usize,
    message: *const u8,
    message_len: usize,
) {
    // SAFETY: the plugin passes valid (ptr, len) pairs for the duration of the call.
    let (target, message) = unsafe {
        (
            std::slice::from_raw_parts(target, target_len),
            std::slice::from_raw_parts(message, message_len),
        )
    };
    LOGS.lock().unwrap().push(LogLine {
        level,
        target: String::from_utf8_lossy(target).into_owned(),
        message: String::from_utf8_lossy(message).into_owned(),
    });
}

/// Log lines whose message contains `needle`.
pub fn logs_containing(needle: &str) -> Vec<LogLine> {
    LOGS.lock()
        .unwrap()
        .iter()
        .filter(|line| line.message.contains(needle))
        .cloned()
        .collect()
}

/// Waits until a log line containing `needle` arrives.
pub fn wait_for_log(needle: &str, timeout: Duration) -> LogLine {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(line) = logs_containing(needle).into_iter().next() {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no log line containing {needle:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One batch as the send callback received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub batch_id: u64,
    pub at: Instant,
    pub batch: ProducedMessages,
}

struct Batches {
    by_plugin: Mutex<HashMap<u32, Vec<Received>>>,
    arrived: Condvar,
    /// What the v2 callback returns per plugin id (default 0 = accepted).
    refuse: Mutex<HashMap<u32, i32>>,
}

fn batches() -> &'static Batches {
    static BATCHES: OnceLock<Batches> = OnceLock::new();
    BATCHES.get_or_init(|| Batches {
        by_plugin: Mutex::default(),
        arrived: Condvar::new(),
        refuse: Mutex::default(),
    })
}

fn record(plugin_id: u32, batch_id: u64, ptr: *const u8, len: usize) {
    // SAFETY: the plugin's buffer is valid for the duration of the callback.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    let batch: ProducedMessages = postcard::from_bytes(bytes).expect("batch decodes");
    let store = batches();
    store
        .by_plugin
        .lock()
        .unwrap()
        .entry(plugin_id)
        .or_default()
        .push(Received {
            batch_id,
            at: Instant::now(),
            batch,
        });
    store.arrived.notify_all();
}

pub extern "C" fn send_v2(plugin_id: u32, batch_id: u64, ptr: *const u8, len: usize) -> i32 {
    record(plugin_id, batch_id, ptr, len);
    *batches()
        .refuse
        .lock()
        .unwrap()
        .get(&plugin_id)
        .unwrap_or(&0)
}

pub extern "C" fn send_legacy(plugin_id: u32, ptr: *const u8, len: usize) {
    record(plugin_id, 0, ptr, len);
}

pub fn refuse_batches(plugin_id: u32, code: i32) {
    batches().refuse.lock().unwrap().insert(plugin_id, code);
}

/// Waits until plugin `id` has delivered at least `count` batches; returns them all.
pub fn wait_for_batches(id: u32, count: usize, timeout: Duration) -> Vec<Received> {
    let store = batches();
    let deadline = Instant::now() + timeout;
    let mut by_plugin = store.by_plugin.lock().unwrap();
    loop {
        let received = by_plugin.get(&id).map_or(0, Vec::len);
        if received >= count {
            return by_plugin[&id].clone();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "plugin {id}: {received} of {count} batches arrived"
        );
        by_plugin = store.arrived.wait_timeout(by_plugin, left).unwrap().0;
    }
}

pub fn batch_count(id: u32) -> usize {
    batches()
        .by_plugin
        .lock()
        .unwrap()
        .get(&id)
        .map_or(0, Vec::len)
}

/// Source entry points of one library.
pub struct SourceApi {
    pub open: SourceOpen,
    pub handle: extern "C" fn(u32, Option<SendCallback>) -> i32,
    pub handle_v2: extern "C" fn(u32, Option<SendCallbackV2>) -> i32,
    pub batch_result: extern "C" fn(u32, u64, u8) -> i32,
    pub close: extern "C" fn(u32) -> i32,
}

impl SourceApi {
    pub fn load(crate_name: &str) -> Self {
        SourceApi {
            open: symbol(crate_name, "iggy_source_open"),
            handle: symbol(crate_name, "iggy_source_handle"),
            handle_v2: symbol(crate_name, "iggy_source_handle_v2"),
            batch_result: symbol(crate_name, "iggy_source_batch_result"),
            close: symbol(crate_name, "iggy_source_close"),
        }
    }

    pub fn open(&self, id: u32, config: &str, state: Option<&[u8]>) -> i32 {
        let (state_ptr, state_len) = state.map_or((std::ptr::null(), 0), |s| (s.as_ptr(), s.len()));
        // SAFETY: buffers outlive the call.
        unsafe {
            (self.open)(
                id,
                config.as_ptr(),
                config.len(),
                state_ptr,
                state_len,
                Some(log_callback),
            )
        }
    }
}

/// Sink entry points of one library.
pub struct SinkApi {
    pub open: SinkOpen,
    pub consume: SinkConsume,
    pub close: extern "C" fn(u32) -> i32,
}

impl SinkApi {
    pub fn load(crate_name: &str) -> Self {
        SinkApi {
            open: symbol(crate_name, "iggy_sink_open"),
            consume: symbol(crate_name, "iggy_sink_consume"),
            close: symbol(crate_name, "iggy_sink_close"),
        }
    }

    pub fn open(&self, id: u32, config: &str) -> i32 {
        // SAFETY: the buffer outlives the call.
        unsafe { (self.open)(id, config.as_ptr(), config.len(), Some(log_callback)) }
    }

    pub fn consume(&self, id: u32, topic: &[u8], meta: &[u8], messages: &[u8]) -> i32 {
        // SAFETY: buffers outlive the call.
        unsafe {
            (self.consume)(
                id,
                topic.as_ptr(),
                topic.len(),
                meta.as_ptr(),
                meta.len(),
                messages.as_ptr(),
                messages.len(),
            )
        }
    }
}
