//! Crash safety: a writer process is SIGKILLed at a random moment, several rounds in a row on the same
//! data dir; after each kill the store must open cleanly and hold every write the writer had
//! acknowledged (printed after its commit returned).
//!
//! The writer is this test binary re-executed with `STEWARD_STORE_CRASH_CHILD` set, running only
//! `crash_child_writer` (which does nothing in a normal run).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use steward_store::{log_key, Expect, Op, RedbStore, Retention, Store};

const CHILD_ENV: &str = "STEWARD_STORE_CRASH_CHILD";
const ROUND_ENV: &str = "STEWARD_STORE_CRASH_ROUND";
const COUNTER: &str = "meta/counter";
const JOURNAL: &str = "journal/";

fn retention() -> Retention {
    // Large enough that nothing acknowledged in the test is trimmed.
    Retention::uniform(1_000_000)
}

/// The writer: loops writing records and printing each acknowledged one, until killed.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u64 = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let store = RedbStore::open(Path::new(&dir), retention()).unwrap();
    let mut out = std::io::stdout().lock();
    let mut counter_rev = store.get(COUNTER).unwrap().map(|v| v.revision);
    for i in 0..1_000_000u64 {
        // A single put of a fresh key.
        let key = format!("w/{round}/{i}");
        let rev = store
            .put(&key, format!("r{round}i{i}").as_bytes(), Expect::Absent, 0)
            .unwrap();
        writeln!(out, "ACK PUT {key} {rev}").unwrap();
        out.flush().unwrap();
        // A compare-and-swap update plus a log append, in one batch.
        let ops = [
            Op::Put {
                key: COUNTER.into(),
                value: format!("{round}:{i}").into_bytes(),
                expect: counter_rev.map_or(Expect::Absent, Expect::Revision),
            },
            Op::Append {
                prefix: JOURNAL.into(),
                value: format!("r{round}i{i}").into_bytes(),
            },
        ];
        let done = store.txn(&ops, 0).unwrap();
        counter_rev = Some(done.revision);
        writeln!(
            out,
            "ACK TXN {} {} {round} {i}",
            done.revision, done.seqs[0]
        )
        .unwrap();
        out.flush().unwrap();
    }
}

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.finish()
}

struct Acked {
    puts: Vec<(String, u64)>,
    /// (revision, journal seq, round, i)
    txns: Vec<(u64, u64, u64, u64)>,
}

fn run_round(dir: &Path, round: u64, kill_after: usize) -> Acked {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .env(ROUND_ENV, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut killed = false;
    loop {
        if !killed && lines.len() >= kill_after {
            child.kill().unwrap(); // SIGKILL
            killed = true;
        }
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        // Only complete lines were acknowledged.
        if let Some(ack) = line.strip_suffix('\n').and_then(|l| l.strip_prefix("ACK ")) {
            lines.push(ack.to_owned());
        }
    }
    let status = child.wait().unwrap();
    assert!(killed, "the writer ended on its own: {status:?}");
    let mut acked = Acked {
        puts: vec![],
        txns: vec![],
    };
    for l in lines {
        let f: Vec<&str> = l.split(' ').collect();
        match f[0] {
            "PUT" => acked.puts.push((f[1].to_owned(), f[2].parse().unwrap())),
            "TXN" => acked.txns.push((
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )),
            other => panic!("unexpected ack {other}"),
        }
    }
    acked
}

#[test]
fn sigkilled_writer_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let seed = random_u64();
    eprintln!("crash test seed {seed:#x}");
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut total_acked = 0;
    let mut all: Vec<Acked> = Vec::new();
    for round in 0..6u64 {
        // Round 0 is killed as soon as it starts (possibly while the file is being created).
        let kill_after = if round == 0 {
            0
        } else {
            1 + (next() % 300) as usize
        };
        let acked = run_round(dir.path(), round, kill_after);
        total_acked += acked.puts.len() + acked.txns.len();
        eprintln!(
            "round {round}: killed after {kill_after} acks read, {} puts and {} batches acknowledged",
            acked.puts.len(),
            acked.txns.len()
        );
        all.push(acked);

        // The store opens cleanly and holds every acknowledged write of every round so far.
        let store = RedbStore::open(dir.path(), retention())
            .unwrap_or_else(|e| panic!("reopen after kill in round {round}: {e}"));
        let mut max_rev = 0;
        let mut last_counter = None;
        for acked in &all {
            for (key, rev) in &acked.puts {
                let v = store
                    .get(key)
                    .unwrap()
                    .unwrap_or_else(|| panic!("acknowledged {key} lost"));
                assert_eq!(v.revision, *rev, "{key}");
                let (r, i) = key[2..].split_once('/').unwrap();
                assert_eq!(v.value, format!("r{r}i{i}").into_bytes());
                max_rev = max_rev.max(*rev);
            }
            for &(rev, seq, r, i) in &acked.txns {
                let key = log_key(JOURNAL, seq);
                let v = store
                    .get(&key)
                    .unwrap()
                    .unwrap_or_else(|| panic!("acknowledged {key} lost"));
                assert_eq!(v.revision, rev);
                assert_eq!(v.value, format!("r{r}i{i}").into_bytes());
                max_rev = max_rev.max(rev);
                last_counter = Some((rev, r, i));
            }
        }
        assert!(store.revision().unwrap() >= max_rev);
        if let Some((rev, r, i)) = last_counter {
            // The counter holds the last acknowledged update or a later one that committed unacknowledged.
            let c = store.get(COUNTER).unwrap().expect("counter lost");
            assert!(c.revision >= rev);
            let text = String::from_utf8(c.value).unwrap();
            let (cr, ci) = text.split_once(':').unwrap();
            let (cr, ci): (u64, u64) = (cr.parse().unwrap(), ci.parse().unwrap());
            assert!(
                (cr, ci) >= (r, i),
                "counter {text} older than acked {r}:{i}"
            );
        }
        // Journal sequence numbers are contiguous from 1: none skipped, none duplicated.
        let seqs: Vec<u64> = store
            .list(JOURNAL)
            .unwrap()
            .iter()
            .map(|(k, _)| k[JOURNAL.len()..].parse().unwrap())
            .collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
        // And it is writable.
        store
            .put(&format!("check/{round}"), b"ok", Expect::Absent, 0)
            .unwrap();
    }
    assert!(total_acked > 0, "no write was acknowledged in any round");
}

#[test]
fn killed_while_creating_the_store_leaves_a_usable_data_dir() {
    for _ in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        run_round(dir.path(), 0, 0);
        let store = RedbStore::open(dir.path(), retention())
            .unwrap_or_else(|e| panic!("reopen after a kill during creation: {e}"));
        store.put("k", b"v", Expect::Any, 0).unwrap();
        drop(store);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [steward_store::DB_FILE], "temporaries left behind");
    }
}
