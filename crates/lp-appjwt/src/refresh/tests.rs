//! The primitive on its own, with tokio's paused clock: a fetch function
//! that counts its calls and answers from a script.

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::time::SystemTime;

use lp_oauth::TokenError;

use super::*;

const S: Duration = Duration::from_secs(1);

/// What the fake fetch does: after `delay`, a value fresh for 10 s and
/// usable for 20 s, or an error.
#[derive(Clone)]
enum Answer {
    Value(u32),
    Throttled(u64),
    Rejected,
    Unavailable,
}

struct Source {
    calls: AtomicUsize,
    script: Mutex<VecDeque<Answer>>,
    delay: Mutex<Duration>,
}

impl Source {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        lock(&self.script).extend(answers);
    }
}

fn error(answer: &Answer) -> Option<Error> {
    let status = |s: u16| http::StatusCode::from_u16(s).unwrap_or_default();
    match answer {
        Answer::Value(_) => None,
        Answer::Throttled(secs) => Some(Error::Token(TokenError::Throttled {
            status: status(429),
            retry_after: Some(lp_oauth::RetryAfter::Delay(Duration::from_secs(*secs))),
            oauth: None,
        })),
        Answer::Rejected => Some(Error::Token(TokenError::Rejected {
            status: status(401),
            oauth: None,
        })),
        Answer::Unavailable => Some(Error::Token(TokenError::Server {
            status: status(503),
            retry_after: None,
            oauth: None,
        })),
    }
}

/// A cell over a fresh [`Source`]; `owner` stands for the client: the
/// fetch holds it only weakly.
fn cell(scheduled: bool) -> (Arc<Refresh<u32>>, Arc<Source>, Arc<()>) {
    cell_on(scheduled, Arc::new(SystemTime::now))
}

/// A wall clock that moves with tokio's (paused) clock, plus a skew a test
/// sets: forward for a suspend (the monotonic clock stopped, the wall
/// clock did not), back for a wall clock set back.
fn wall_clock() -> (Arc<dyn Clock>, Arc<std::sync::atomic::AtomicI64>) {
    let skew_ms = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let (start, wall) = (Instant::now(), SystemTime::now());
    let skew = Arc::clone(&skew_ms);
    let clock = move || {
        let ms = skew.load(Ordering::SeqCst);
        let at = wall + start.elapsed();
        let by = Duration::from_millis(ms.unsigned_abs());
        if ms >= 0 { at + by } else { at - by }
    };
    (Arc::new(clock), skew_ms)
}

fn cell_on(scheduled: bool, clock: Arc<dyn Clock>) -> (Arc<Refresh<u32>>, Arc<Source>, Arc<()>) {
    let source = Arc::new(Source {
        calls: AtomicUsize::new(0),
        script: Mutex::new(VecDeque::new()),
        delay: Mutex::new(Duration::ZERO),
    });
    let owner = Arc::new(());
    let weak_owner = Arc::downgrade(&owner);
    let weak_source = Arc::downgrade(&source);
    let memory = Memory {
        retry: RetryPolicy::default(),
        failures: FailureMemory::default(),
        clock,
    };
    let cell = Refresh::new("test", scheduled, memory, move |_p: Progress| {
        let _owner = weak_owner.upgrade()?;
        let source = weak_source.upgrade()?;
        let fetch: FetchFuture<u32> = Box::pin(async move {
            source.calls.fetch_add(1, Ordering::SeqCst);
            let answer = lock(&source.script).pop_front().unwrap_or(Answer::Value(0));
            let delay = *lock(&source.delay);
            tokio::time::sleep(delay).await;
            match error(&answer) {
                Some(e) => Err(e),
                None => {
                    let Answer::Value(v) = answer else {
                        unreachable!()
                    };
                    let now = Instant::now();
                    Ok(Stamped::new(v, now, now + 10 * S, now + 20 * S))
                }
            }
        });
        Some(fetch)
    });
    (cell, source, owner)
}

async fn get(cell: &Arc<Refresh<u32>>) -> Result<u32, Error> {
    cell.get(Want::Usable, Some(Instant::now() + 30 * S))
        .await
        .map(|v| v.value)
}

/// Lets spawned tasks run without moving the paused clock.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn fresh_values_are_served_without_a_fetch() {
    let (cell, source, _owner) = cell(false);
    source.script([Answer::Value(1)]);
    assert_eq!(get(&cell).await.unwrap(), 1);
    tokio::time::advance(9 * S).await;
    for _ in 0..100 {
        assert_eq!(get(&cell).await.unwrap(), 1);
    }
    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_due_value_is_served_at_once_and_refreshed_in_the_background() {
    let (cell, source, _owner) = cell(false);
    source.script([Answer::Value(1), Answer::Value(2)]);
    get(&cell).await.unwrap();
    tokio::time::advance(11 * S).await;
    *lock(&source.delay) = 5 * S;
    let started = Instant::now();
    assert_eq!(get(&cell).await.unwrap(), 1, "stale value, at once");
    assert_eq!(Instant::now(), started);
    assert_eq!(get(&cell).await.unwrap(), 1);
    settle().await;
    assert_eq!(source.calls(), 2, "one refresh for both callers");
    tokio::time::sleep(6 * S).await;
    assert_eq!(get(&cell).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_keeps_the_usable_value_and_waits_before_the_next() {
    let (cell, source, _owner) = cell(false);
    source.script([Answer::Value(1), Answer::Unavailable, Answer::Value(2)]);
    get(&cell).await.unwrap();
    tokio::time::advance(11 * S).await;
    assert_eq!(get(&cell).await.unwrap(), 1);
    settle().await;
    let snapshot = cell.snapshot();
    assert!(snapshot.failure.is_some());
    assert_eq!(snapshot.consecutive_failures, 1);
    // Not before the hold-off (250 to 500 ms after a first 5xx).
    for _ in 0..10 {
        assert_eq!(get(&cell).await.unwrap(), 1);
    }
    assert_eq!(source.calls(), 2);
    tokio::time::advance(S / 2).await;
    assert_eq!(get(&cell).await.unwrap(), 1);
    settle().await;
    assert_eq!(source.calls(), 3);
    assert_eq!(get(&cell).await.unwrap(), 2);
    assert_eq!(cell.snapshot().consecutive_failures, 0, "a success resets");
}

#[tokio::test(start_paused = true)]
async fn without_a_usable_value_failures_are_remembered_until_not_before() {
    let (cell, source, _owner) = cell(false);
    source.script([Answer::Throttled(120)]);
    assert!(get(&cell).await.unwrap_err().is_throttled());
    for _ in 0..9 {
        let err = get(&cell).await.unwrap_err();
        assert!(matches!(err, Error::Backoff { .. }), "{err:?}");
        assert!(err.is_throttled());
    }
    assert_eq!(source.calls(), 1, "no request while told to wait");
    tokio::time::advance(119 * S).await;
    let Error::Backoff { retry_in, .. } = get(&cell).await.unwrap_err() else {
        panic!("not a backoff")
    };
    assert_eq!(retry_in, S);
    tokio::time::advance(S).await;
    assert_eq!(get(&cell).await.unwrap(), 0);
    assert_eq!(source.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn rejections_back_off_doubling() {
    let (cell, source, _owner) = cell(false);
    source.script([Answer::Rejected, Answer::Rejected, Answer::Rejected]);
    let mut waits = Vec::new();
    for _ in 0..3 {
        get(&cell).await.unwrap_err();
        let Error::Backoff { retry_in, .. } = get(&cell).await.unwrap_err() else {
            panic!("not a backoff")
        };
        waits.push(retry_in.as_secs());
        tokio::time::advance(retry_in).await;
    }
    assert_eq!(waits, [5, 10, 20]);
    assert_eq!(source.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_caller_does_not_cancel_the_fetch() {
    let (cell, source, _owner) = cell(false);
    *lock(&source.delay) = 5 * S;
    source.script([Answer::Value(7)]);
    let cancelled = tokio::time::timeout(S, get(&cell)).await;
    assert!(cancelled.is_err());
    tokio::time::sleep(5 * S).await;
    assert_eq!(get(&cell).await.unwrap(), 7, "the fetch went on");
    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn waiters_stop_at_their_own_deadline_and_share_the_outcome() {
    let (cell, source, _owner) = cell(false);
    *lock(&source.delay) = 10 * S;
    source.script([Answer::Rejected]);
    let short = cell.get(Want::Usable, Some(Instant::now() + 2 * S));
    let err = short.await.map(|_| ()).unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded { attempts: 0, .. }),
        "{err:?}"
    );
    let err = get(&cell).await.unwrap_err();
    assert!(
        matches!(err, Error::Token(TokenError::Rejected { .. })),
        "the server's answer, not another caller's deadline: {err:?}"
    );
    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_cell_refreshes_a_used_value_on_its_own() {
    let (cell, source, _owner) = cell(true);
    source.script([Answer::Value(1), Answer::Value(2), Answer::Value(3)]);
    get(&cell).await.unwrap();
    tokio::time::sleep(10 * S).await;
    settle().await;
    assert_eq!(source.calls(), 2, "refreshed when due, without a caller");
    assert_eq!(get(&cell).await.unwrap(), 2);
    // Nobody reads value 2 again: the next due time passes without a
    // fetch, and the task ends.
    let _ = cell.peek();
    tokio::time::sleep(10 * S).await;
    settle().await;
    assert_eq!(source.calls(), 3, "value 2 was read once");
    tokio::time::sleep(30 * S).await;
    settle().await;
    assert_eq!(source.calls(), 3, "value 3 was never read");
    assert!(lock(&cell.state).task.is_none());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_owner_stops_the_refresher() {
    let (cell, source, owner) = cell(true);
    get(&cell).await.unwrap();
    assert!(lock(&cell.state).task.is_some(), "sleeping until due");
    drop(owner);
    tokio::time::sleep(60 * S).await;
    settle().await;
    assert_eq!(source.calls(), 1);
    assert!(lock(&cell.state).task.is_none());
}

#[tokio::test(start_paused = true)]
async fn shutdown_aborts_a_fetch_in_progress() {
    let (cell, source, _owner) = cell(true);
    *lock(&source.delay) = 60 * S;
    let waiter = tokio::spawn({
        let cell = Arc::clone(&cell);
        async move { get(&cell).await }
    });
    settle().await;
    assert_eq!(source.calls(), 1);
    cell.shutdown();
    // The waiter is woken, looks again and starts a fetch of its own.
    settle().await;
    assert_eq!(source.calls(), 2);
    waiter.abort();
}

#[tokio::test(start_paused = true)]
async fn invalidate_and_mark_due() {
    let (cell, source, _owner) = cell(false);
    source.script([Answer::Value(1), Answer::Value(2), Answer::Value(3)]);
    get(&cell).await.unwrap();
    assert!(!cell.invalidate(|v| v.value == 9), "another value is kept");
    assert!(cell.invalidate(|v| v.value == 1));
    assert_eq!(get(&cell).await.unwrap(), 2);
    // Due, still usable: served while a background fetch replaces it.
    cell.mark_due(|_| true);
    assert_eq!(get(&cell).await.unwrap(), 2);
    settle().await;
    assert_eq!(get(&cell).await.unwrap(), 3);
    assert_eq!(source.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_due_value_is_taken_without_the_lock_only_while_the_cell_sees_to_it() {
    let (cell, source, _owner) = cell(false);
    source.script([Answer::Value(1), Answer::Unavailable]);
    get(&cell).await.unwrap();
    let value = |cell: &Arc<Refresh<u32>>| cell.peek().as_ref().map(Arc::clone).unwrap();
    assert!(cell.at_once(&value(&cell)), "fresh");
    tokio::time::advance(11 * S).await;
    assert!(!cell.at_once(&value(&cell)), "due, nobody at it");
    *lock(&source.delay) = 2 * S;
    get(&cell).await.unwrap();
    assert!(cell.at_once(&value(&cell)), "due, the refresh runs");
    tokio::time::sleep(3 * S).await;
    settle().await;
    // The refresh failed and a lazy cell has no task left: a caller must
    // look (and may start the next refresh once not-before has passed).
    assert!(!cell.at_once(&value(&cell)));
    tokio::time::advance(10 * S).await;
    assert!(!cell.at_once(&value(&cell)), "unusable");
}

/// Whether the stored value was ended for the lock-free path.
fn ended(cell: &Arc<Refresh<u32>>) -> bool {
    cell.peek()
        .as_ref()
        .is_none_or(|v| v.ended.load(Ordering::SeqCst))
}

fn at_once(cell: &Arc<Refresh<u32>>) -> bool {
    cell.peek().as_ref().is_some_and(|v| cell.at_once(v))
}

#[tokio::test(start_paused = true)]
async fn a_due_value_is_taken_lock_free_only_until_its_end() {
    let (clock, skew_ms) = wall_clock();
    let (cell, source, _owner) = cell_on(true, clock);
    source.script([Answer::Value(1), Answer::Value(2)]);
    get(&cell).await.unwrap();
    assert!(at_once(&cell) && !ended(&cell), "fresh");
    // With the wall clock an hour back, only the cell's timer (on the
    // monotonic clock) can end the value.
    skew_ms.store(-3_600_000, Ordering::SeqCst);
    *lock(&source.delay) = 30 * S;
    tokio::time::sleep(10 * S).await;
    settle().await;
    assert_eq!(source.calls(), 2, "the timer started the refresh");
    assert!(at_once(&cell) && !ended(&cell), "due, usable");
    tokio::time::sleep(10 * S - Duration::from_millis(1)).await;
    settle().await;
    assert!(at_once(&cell) && !ended(&cell), "1 ms left");
    tokio::time::sleep(Duration::from_millis(1)).await;
    settle().await;
    assert!(ended(&cell), "ended while the fetch still runs");
    assert!(!at_once(&cell), "never served past usable_until");
    tokio::time::sleep(20 * S).await;
    settle().await;
    assert_eq!(get(&cell).await.unwrap(), 2);
    assert!(!ended(&cell) && at_once(&cell), "the new value");
    assert_eq!(source.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn after_a_suspend_a_value_is_judged_by_the_wall_clock() {
    let (clock, skew_ms) = wall_clock();
    let (cell, source, _owner) = cell_on(true, clock);
    get(&cell).await.unwrap();
    // Into the refresh margin by the wall clock alone: the timer sleeps
    // on, so the caller must start the refresh (the precise path).
    skew_ms.store(11_000, Ordering::SeqCst);
    assert!(!at_once(&cell));
    assert_eq!(get(&cell).await.unwrap(), 0, "served, refresh started");
    settle().await;
    assert_eq!(source.calls(), 2);
    assert!(at_once(&cell), "the new value");
    *lock(&source.delay) = 30 * S;
    tokio::time::sleep(10 * S).await;
    settle().await;
    assert_eq!(source.calls(), 3);
    assert!(at_once(&cell), "due, refreshing");
    // The machine slept 9 s (the timer knows nothing of it): 1 s left on
    // the wall clock, still usable.
    skew_ms.store(11_000 + 9_000, Ordering::SeqCst);
    assert!(at_once(&cell));
    // 15 ms left: inside the coarse clock's slack, so the precise path
    // decides, and still takes it.
    skew_ms.store(11_000 + 9_985, Ordering::SeqCst);
    assert!(at_once(&cell));
    skew_ms.store(11_000 + 10_000, Ordering::SeqCst);
    assert!(!ended(&cell), "the timer still sleeps");
    assert!(!at_once(&cell), "past usable_until on the wall clock");
}

#[tokio::test(start_paused = true)]
async fn a_task_that_ends_ends_its_value_for_the_lock_free_path() {
    let (clock, skew_ms) = wall_clock();
    let (cell, source, _owner) = cell_on(true, clock);
    get(&cell).await.unwrap();
    // Read once; the refresh at 10 s gives value 0 again, which nobody
    // reads, so at 20 s the task ends instead of refreshing.
    tokio::time::sleep(10 * S).await;
    settle().await;
    let _ = cell.peek();
    skew_ms.store(-3_600_000, Ordering::SeqCst);
    tokio::time::sleep(10 * S).await;
    settle().await;
    assert_eq!(source.calls(), 2);
    assert!(lock(&cell.state).task.is_none());
    assert!(ended(&cell), "nobody watches its end any more");
    // The wall clock set back says fresh; the precise path knows better:
    // due, nobody refreshing, so the caller starts it.
    assert!(!at_once(&cell));
}

#[test]
fn the_lock_free_path_stops_short_of_each_wall_deadline() {
    let now = Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let v = Stamped::new(7, now, now + 10 * S, now + 20 * S).anchored(now, wall);
    let nanos = |t: SystemTime| epoch_nanos(t - COARSE_SLACK);
    assert_eq!(v.coarse_walls, (nanos(wall + 10 * S), nanos(wall + 20 * S)));
    // A deadline within the slack of the epoch is never taken lock-free.
    let early = Stamped::new(7, now, now, now).anchored(now, SystemTime::UNIX_EPOCH);
    assert_eq!(early.coarse_walls, (0, 0));
}

/// A value stored directly, as a fetch's outcome would be.
fn put(cell: &Arc<Refresh<u32>>, v: u32) {
    let now = Instant::now();
    cell.set_current(Some(Arc::new(Stamped::new(
        v,
        now,
        now + 10 * S,
        now + 20 * S,
    ))));
}

fn local(cell: &Arc<Refresh<u32>>) -> Option<u32> {
    cell.with_current(|v| v.value)
}

#[tokio::test(start_paused = true)]
async fn a_threads_copy_follows_every_store() {
    let (cell, _source, _owner) = cell(true);
    assert_eq!(local(&cell), None, "nothing stored");
    put(&cell, 1);
    assert_eq!(local(&cell), Some(1));
    assert_eq!(local(&cell), Some(1), "from the copy");
    put(&cell, 2);
    assert_eq!(local(&cell), Some(2));
    assert!(cell.invalidate(|_| true));
    assert_eq!(local(&cell), None);
    put(&cell, 3);
    cell.mark_due(|_| true);
    assert_eq!(local(&cell), Some(3));
    // Another thread keeps its own copies of the same cell.
    let other = Arc::clone(&cell);
    let seen = std::thread::spawn(move || local(&other)).join().unwrap();
    assert_eq!(seen, Some(3));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Cells sharing a thread's slots (more cells than slots, so numbers
    /// collide), values stored, dropped and read in any order: a read
    /// through the thread's copies always gives that cell's stored value.
    #[test]
    fn a_threads_copies_never_mix_cells_or_lag_a_store(
        ops in proptest::collection::vec((0usize..9, 0u32..4), 1..200),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let cells: Vec<_> = (0..9).map(|_| cell(true)).collect();
        for (i, op) in ops {
            let c = &cells[i].0;
            match op {
                0 => put(c, u32::try_from(i).unwrap() * 1000 + 1),
                1 => {
                    c.invalidate(|_| true);
                }
                2 => put(c, u32::try_from(i).unwrap() * 1000 + 2),
                _ => {}
            }
            for (cell, _, _) in &cells {
                let expected = cell.peek().as_ref().map(|v| v.value);
                proptest::prop_assert_eq!(local(cell), expected);
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_keyed_cell_dropped_for_another_leaves_its_wait_to_the_next() {
    let keyed: Keyed<u32, u32> = Keyed::new(1);
    let (first, source, _o1) = cell(false);
    source.script([Answer::Throttled(120)]);
    let one = keyed.cell(&1, || Arc::clone(&first));
    assert!(!matches!(get(&one).await, Err(Error::Backoff { .. })));
    // Key 2 takes the only place; key 1's next cell must still wait.
    let (second, _s2, _o2) = cell(false);
    keyed.cell(&2, || Arc::clone(&second));
    assert_eq!(keyed.holds.len(), 1);
    let (third, fresh_source, _o3) = cell(false);
    let again = keyed.cell(&1, || Arc::clone(&third));
    assert!(matches!(get(&again).await, Err(Error::Backoff { .. })));
    assert_eq!(fresh_source.calls(), 0, "no request before the 120 s");
    tokio::time::advance(121 * S).await;
    assert_eq!(get(&again).await.unwrap(), 0);
    assert_eq!(fresh_source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn kept_holds_are_bounded_and_end_when_their_wait_does() {
    let holds: Holds<u32> = Holds::new(2);
    for (key, secs) in [(1, 10), (2, 20), (3, 30)] {
        let (c, source, _o) = cell(false);
        source.script([Answer::Throttled(secs)]);
        let _ = get(&c).await;
        holds.keep(key, &c);
    }
    assert_eq!(holds.len(), 2, "the one ending soonest made way");
    tokio::time::advance(25 * S).await;
    let (c, _source, _o) = cell(false);
    let _ = get(&c).await;
    let (t, throttled, _o) = cell(false);
    throttled.script([Answer::Throttled(60)]);
    let _ = get(&t).await;
    holds.keep(9, &t);
    assert_eq!(
        holds.len(),
        2,
        "2's wait ended and was dropped; 3 and 9 remain"
    );
    // A cell with nothing to wait for leaves nothing.
    holds.keep(10, &c);
    assert_eq!(holds.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_threads_slot_stays_with_the_live_cell_that_took_it() {
    // Cells whose numbers share a slot: the first keeps it while it lives.
    let (first, _s1, _o1) = cell(true);
    let mut others = Vec::new();
    let other = loop {
        let (c, s, o) = cell(true);
        if c.slot() == first.slot() {
            break c;
        }
        others.push((c, s, o));
    };
    put(&first, 1);
    put(&other, 2);
    let holder = || LOCAL.with(|slots| slots.borrow()[first.slot()].as_ref().map(|l| l.cell));
    for _ in 0..3 {
        assert_eq!((local(&first), local(&other)), (Some(1), Some(2)));
        assert_eq!(holder(), Some(first.id), "not evicted by the other cell");
    }
    // Once nothing else holds the copied value, the slot is free again.
    first.invalidate(|_| true);
    assert_eq!(local(&other), Some(2));
    assert_eq!(holder(), Some(other.id));
}
