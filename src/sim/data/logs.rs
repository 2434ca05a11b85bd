//! The diagnostic logs of a signature (`GET
//! /v1/diagnosticSignatures/{id}/logs`), generated per request: metadata
//! and a call stack tree through the signature's blame frame.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::account::{Account, SignatureRef, SimApp, SimSignature};
use super::{rng, str_hash, uuid};
use crate::asc::model::{
    CallStack, CallStackNode, CallStackTree, DiagnosticLog, DiagnosticLogInsight, DiagnosticLogs,
    DiagnosticLogsProductData, DiagnosticMetaData,
};

const IPHONE_MODELS: &[&str] = &[
    "iPhone15_2",
    "iPhone16_1",
    "iPhone14_5",
    "iPhone15_3",
    "iPhone16_2",
];
const OS_VERSIONS: &[&str] = &[
    "iPhone OS 17.4 (21E219)",
    "iPhone OS 17.5.1 (21F90)",
    "iPhone OS 17.6.1 (21G93)",
    "iPhone OS 18.0 (22A3354)",
];

struct Frame {
    binary: String,
    symbol: String,
    blame: bool,
    file: Option<String>,
    insights_category: Option<&'static str>,
}

fn sys(binary: &str, symbol: &str) -> Frame {
    Frame {
        binary: binary.into(),
        symbol: symbol.into(),
        blame: false,
        file: None,
        insights_category: None,
    }
}

/// `GET /v1/diagnosticSignatures/{id}/logs`: up to `limit` logs.
pub fn signature_logs(
    account: &Account,
    s: SignatureRef<'_>,
    limit: Option<usize>,
) -> DiagnosticLogs {
    let sig = s.signature;
    let mut r = rng(&[account.seed, 6, str_hash(&sig.id)]);
    let count = limit.map_or(sig.log_count, |l| l.min(sig.log_count));
    let (event, insight) = match sig.diagnostic_type {
        "DISK_WRITES" => (
            "disk writes",
            Some(if sig.sqlite {
                DiagnosticLogInsight {
                    insights_url: Some("doc://com.apple.documentation/documentation/xcode/reducing-disk-writes#Use-Appropriate-Indices".into()),
                    insights_category: Some("SQLiteSpill".into()),
                    insights_string: Some("SQLite spilled temporary data to disk; add an index for the query to avoid sorting in temporary files.".into()),
                }
            } else {
                DiagnosticLogInsight {
                    insights_url: Some("doc://com.apple.documentation/documentation/xcode/reducing-disk-writes#Batch-Writes".into()),
                    insights_category: Some("UnbufferedWrites".into()),
                    insights_string: Some("Many small writes; buffer data in memory and write it in larger batches.".into()),
                }
            }),
        ),
        "HANGS" => ("hang", None),
        _ => ("launch", None),
    };
    let mut logs = Vec::with_capacity(count);
    for _ in 0..count {
        let device = IPHONE_MODELS[r.gen_range(0..IPHONE_MODELS.len())];
        let os = OS_VERSIONS[r.gen_range(0..OS_VERSIONS.len())];
        let (writes, detail) = match sig.diagnostic_type {
            "DISK_WRITES" => {
                let mb = r.gen_range(1000.0..4200.0);
                (
                    Some(format!("{mb:.2} MB")),
                    format!("Total of {mb:.2} MB of disk writes"),
                )
            }
            "HANGS" => (
                None,
                format!("Hang duration of {:.2} s", r.gen_range(0.3..6.0)),
            ),
            _ => (
                None,
                format!("Launch duration of {:.2} s", r.gen_range(1.5..9.0)),
            ),
        };
        let frames = stack(s.app, sig);
        let samples: i64 = r.gen_range(10..400);
        let root = nodes(&mut r, &frames, samples, sig.offset);
        logs.push(DiagnosticLog {
            call_stack_tree: vec![CallStackTree {
                call_stack_per_thread: Some(true),
                call_stacks: vec![CallStack {
                    call_stack_root_frames: vec![root],
                }],
            }],
            diagnostic_meta_data: DiagnosticMetaData {
                bundle_id: Some(s.app.bundle_id.clone()),
                event: Some(event.into()),
                os_version: Some(os.into()),
                app_version: Some(s.version.version.clone()),
                writes_caused: writes,
                device_type: Some(device.into()),
                platform_architecture: Some("arm64".into()),
                event_detail: Some(detail),
                build_version: Some(s.build.number.to_string()),
            },
        });
    }
    DiagnosticLogs {
        product_data: vec![DiagnosticLogsProductData {
            signature_id: Some(sig.id.clone()),
            diagnostic_insights: insight.into_iter().collect(),
            diagnostic_logs: logs,
        }],
        version: Some("1.0.0".into()),
    }
}

/// Root-to-leaf frames of one signature's call stack.
fn stack(app: &SimApp, sig: &SimSignature) -> Vec<Frame> {
    let blame = Frame {
        binary: app.executable.clone(),
        symbol: sig.symbol.to_string(),
        blame: true,
        file: Some(sig.file.to_string()),
        insights_category: None,
    };
    match sig.diagnostic_type {
        "DISK_WRITES" => {
            let mut v = vec![
                sys("libsystem_pthread.dylib", "start_wqthread"),
                sys("libsystem_pthread.dylib", "_pthread_wqthread"),
                sys("libdispatch.dylib", "_dispatch_worker_thread2"),
                sys("libdispatch.dylib", "_dispatch_client_callout"),
                blame,
            ];
            if sig.sqlite {
                let mut step = sys("libsqlite3.dylib", "sqlite3_step");
                step.insights_category = Some("SQLiteSpill");
                v.push(step);
                v.push(sys("libsqlite3.dylib", "sqlite3VdbeExec"));
                v.push(sys("libsystem_kernel.dylib", "pwrite"));
            } else {
                v.push(sys("Foundation", "-[NSFileHandle writeData:]"));
                v.push(sys("libsystem_kernel.dylib", "write"));
            }
            v
        }
        "HANGS" => vec![
            sys("dyld", "start"),
            Frame {
                binary: app.executable.clone(),
                symbol: "main".into(),
                blame: false,
                file: Some("main.m".into()),
                insights_category: None,
            },
            sys("UIKitCore", "UIApplicationMain"),
            sys("GraphicsServices", "GSEventRunModal"),
            sys("CoreFoundation", "__CFRunLoopRun"),
            sys(
                "CoreFoundation",
                "__CFRUNLOOP_IS_SERVICING_THE_MAIN_DISPATCH_QUEUE__",
            ),
            blame,
            sys(
                "Foundation",
                "-[NSData(NSData) initWithContentsOfURL:options:error:]",
            ),
            sys("libsystem_kernel.dylib", "__psynch_mutexwait"),
        ],
        _ => vec![
            sys("dyld", "start"),
            Frame {
                binary: app.executable.clone(),
                symbol: "main".into(),
                blame: false,
                file: Some("main.m".into()),
                insights_category: None,
            },
            sys("UIKitCore", "UIApplicationMain"),
            sys(
                "UIKitCore",
                "-[UIApplication _runWithMainScene:transitionContext:completion:]",
            ),
            blame,
            sys("libobjc.A.dylib", "objc_msgSend"),
            sys("libsystem_kernel.dylib", "mach_msg2_trap"),
        ],
    }
}

/// Builds the nested node chain (root first); the leaf has `subFrames: []`.
fn nodes(r: &mut ChaCha8Rng, frames: &[Frame], samples: i64, blame_offset: u32) -> CallStackNode {
    let mut child: Option<CallStackNode> = None;
    for f in frames.iter().rev() {
        let offset: u32 = if f.blame {
            blame_offset
        } else {
            r.gen_range(8..2400)
        };
        let address: u64 = if f.binary.ends_with(".dylib") || !f.blame && f.file.is_none() {
            0x1_8000_0000 + r.gen_range(0..0x2000_0000u64)
        } else {
            0x1_0000_0000 + r.gen_range(0..0x40_0000u64)
        };
        let address = format!("0x{address:x}");
        let mut uuid_rng = rng(&[str_hash(&f.binary)]);
        let node = CallStackNode {
            sample_count: Some(samples),
            is_blame_frame: Some(f.blame),
            symbol_name: Some(f.symbol.clone()),
            insights_category: f.insights_category.map(str::to_string),
            offset_into_symbol: Some(offset.to_string()),
            binary_name: Some(f.binary.clone()),
            file_name: f.file.clone(),
            binary_uuid: Some(uuid(&mut uuid_rng).to_uppercase()),
            line_number: f.file.as_ref().map(|_| r.gen_range(20..900u32).to_string()),
            raw_frame: Some(format!("{}  {address}  {} + {offset}", f.binary, f.symbol)),
            address: Some(address),
            offset_into_binary_text_segment: Some(String::new()),
            sub_frames: child.take().into_iter().collect(),
        };
        child = Some(node);
    }
    child.unwrap_or_default()
}
