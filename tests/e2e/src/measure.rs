//! Measuring for the benchmarks (src/bin/bench.rs, src/bin/types_bench.rs):
//! the operation count from `BENCH_OPS`, runs of an operation on concurrent
//! tasks, their latencies, wall time and CPU time, and the figures reported
//! of them.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

/// `BENCH_OPS` (default 2000), once `DYNAMODB_ENDPOINT` is known to be set.
pub fn ops_from_env() -> anyhow::Result<usize> {
    if std::env::var("DYNAMODB_ENDPOINT").is_err() {
        bail!(
            "DYNAMODB_ENDPOINT is not set: point it at DynamoDB Local (e.g. http://127.0.0.1:8000), \
             or run `make bench`, which starts the local stack"
        );
    }
    match std::env::var("BENCH_OPS") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| anyhow!("BENCH_OPS must be a positive whole number, not {v:?}")),
        Err(_) => Ok(2000),
    }
}

/// Per-operation latencies, the wall time and the CPU time of one run, or
/// of several added together.
#[derive(Default)]
pub struct Sample {
    pub latencies: Vec<Duration>,
    pub wall: Duration,
    pub cpu: CpuTime,
}

impl Sample {
    pub fn add(&mut self, other: Sample) {
        self.latencies.extend(other.latencies);
        self.wall += other.wall;
        self.cpu.own += other.cpu.own;
        self.cpu.dynamodb += other.cpu.dynamodb;
    }
}

/// CPU time of this process (the pipeline and the SDK) and of DynamoDB
/// Local, which share the machine: where a benchmark's time goes. Zero
/// where /proc or the stack's pid file (`$STACK_DIR/dynamodb.pid`, as
/// localstack/with-stack.sh sets it) is not there.
#[derive(Default, Clone, Copy)]
pub struct CpuTime {
    pub own: Duration,
    pub dynamodb: Duration,
}

impl CpuTime {
    fn now() -> CpuTime {
        let dynamodb_pid = std::env::var("STACK_DIR")
            .ok()
            .and_then(|dir| std::fs::read_to_string(format!("{dir}/dynamodb.pid")).ok());
        CpuTime {
            own: process_cpu("self").unwrap_or_default(),
            dynamodb: dynamodb_pid
                .and_then(|pid| process_cpu(pid.trim()))
                .unwrap_or_default(),
        }
    }

    fn since(self, before: CpuTime) -> CpuTime {
        CpuTime {
            own: self.own.saturating_sub(before.own),
            dynamodb: self.dynamodb.saturating_sub(before.dynamodb),
        }
    }
}

/// User + system time of a process, all threads, from /proc/{pid}/stat
/// (fields 14 and 15, in USER_HZ: 1/100 s on Linux).
fn process_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it do not.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Runs `ops` operations on `concurrency` tasks, each taking the next
/// operation as soon as its last one is done. The first error aborts the run.
pub async fn measure<F, Fut>(ops: usize, concurrency: usize, op: F) -> anyhow::Result<Sample>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = CpuTime::now();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (op, next) = (op.clone(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(ops / concurrency + 1);
            while next.fetch_add(1, Ordering::Relaxed) < ops {
                let began = Instant::now();
                op().await?;
                latencies.push(began.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(ops);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    Ok(Sample {
        latencies,
        wall: start.elapsed(),
        cpu: CpuTime::now().since(cpu),
    })
}

/// A sample's median and 99th percentile latency and its throughput.
pub struct Stats {
    pub p50: Duration,
    pub p99: Duration,
    pub ops_per_sec: f64,
    /// CPU time per operation: this process's, DynamoDB Local's.
    pub own_cpu: Duration,
    pub dynamodb_cpu: Duration,
}

impl Stats {
    pub fn of(mut sample: Sample) -> Self {
        sample.latencies.sort_unstable();
        let ops = u32::try_from(sample.latencies.len().max(1)).unwrap_or(u32::MAX);
        Self {
            p50: percentile(&sample.latencies, 50.0),
            p99: percentile(&sample.latencies, 99.0),
            ops_per_sec: sample.latencies.len() as f64 / sample.wall.as_secs_f64(),
            own_cpu: sample.cpu.own / ops,
            dynamodb_cpu: sample.cpu.dynamodb / ops,
        }
    }
}

/// Nearest-rank percentile of sorted durations: the smallest value with at
/// least `p` percent of the sample at or below it.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with two decimals, as the reports print them.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::percentile;
    use std::time::Duration;

    #[test]
    fn nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&d, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&d[..1], 99.0), Duration::from_millis(1));
    }
}
