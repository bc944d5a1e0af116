//! The one primitive under every cache of the client: a value that must be
//! refreshed ([`Refresh`]).
//!
//! The AppJWT, the Domain API map, each JWKS and each ConsumerJWS are cells
//! of this type with their own fetch function and lifetimes. The rules they
//! share are written once, here:
//!
//! - **Window.** A value is *fresh* until `fresh_until` (served at once, no
//!   lock), then *due* but still *usable* until `usable_until` (served at
//!   once while a refresh runs in the background), then *unusable*.
//! - **No caller waits on a refresh while a usable value exists.**
//! - **Single flight.** At most one fetch per cell runs at a time, in a
//!   task of its own (spawned): a caller that stops waiting (a timeout, a
//!   `select!`) never cancels it. Every caller without a usable value waits
//!   for that one fetch, each until its own deadline, and is handed the
//!   fetch's outcome: a value or an error a server gave, never another
//!   caller's deadline.
//! - **Failure memory.** A failed fetch sets a *not-before* time
//!   ([`RetryPolicy::hold_off`]): until it passes no fetch is started;
//!   callers without a usable value get [`Error::Backoff`] at once. A
//!   success clears it.
//! - **Scheduled refresh** (cells built with `scheduled`): after a fetch,
//!   the task sleeps until the value is due (or, after a failure while a
//!   usable value exists, until not-before) and refreshes it, if the value
//!   was read since it was stored. While sleeping it holds no reference to
//!   the client, and [`Refresh::shutdown`] (called when the last client
//!   handle is dropped) aborts it, fetch in progress included.
//!
//! Time is tokio's monotonic clock, so tests drive the whole thing with a
//! paused clock.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::clock::{Clock, SystemClock, coarse_epoch_nanos, nanos_or_max};
use crate::error::Error;
use crate::metrics;
use crate::retry::{FailureMemory, RetryPolicy};
use crate::transport::{TransportError, TransportErrorKind};

/// A value and its window, as a cell holds it.
pub(crate) struct Stamped<T> {
    pub(crate) value: T,
    /// When the request that produced the value was sent.
    pub(crate) fetched_at: Instant,
    /// Served without a refresh before this instant.
    pub(crate) fresh_until: Instant,
    /// Never served from this instant on. `fresh_until <= usable_until`.
    pub(crate) usable_until: Instant,
    /// Whether a caller read the value since it was stored: a scheduled
    /// refresh of a value nobody reads is skipped.
    used: AtomicBool,
    /// `fresh_until` and `usable_until` on the wall clock, set when the
    /// cell stores the value: the monotonic clock stops while the machine
    /// sleeps, the wall clock does not, so a value is fresh (or usable)
    /// only while both say so.
    walls: Option<(SystemTime, SystemTime)>,
    /// The deadlines of `walls` less [`COARSE_SLACK`], in nanoseconds
    /// since the Unix epoch, for the comparison with the coarse wall clock
    /// on the lock-free path (0: never taken that way).
    coarse_walls: (u64, u64),
    /// Set by the cell's task when `usable_until` passes, or when the task
    /// ends and so no longer watches that deadline: from then on reads take
    /// the precise path. Until then the task's timer stands for the
    /// monotonic deadline on the lock-free path (see [`Refresh::at_once`]).
    /// Written at most once per value, and never when a refresh begins, so
    /// the readers' cache lines stay valid while the token is refreshed.
    ended: AtomicBool,
}

/// How far the coarse wall clock may lag the real one: it is the time of
/// the last timer tick, one tick (1/HZ: 10 ms at the lowest HZ Linux
/// offers) behind at most. The lock-free path stops this much before each
/// wall deadline, so the lag can never carry a value past it.
const COARSE_SLACK: Duration = Duration::from_millis(20);

/// Nanoseconds since the Unix epoch (0 before it, `u64::MAX` past 2554).
fn epoch_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl<T> Stamped<T> {
    /// A value fetched at `fetched_at`; `fresh_until` is clamped to
    /// `usable_until`.
    pub(crate) fn new(
        value: T,
        fetched_at: Instant,
        fresh_until: Instant,
        usable_until: Instant,
    ) -> Self {
        Stamped {
            value,
            fetched_at,
            fresh_until: fresh_until.min(usable_until),
            usable_until,
            used: AtomicBool::new(false),
            walls: None,
            coarse_walls: (0, 0),
            ended: AtomicBool::new(false),
        }
    }

    /// The same value with its deadlines also on the wall clock, from
    /// `wall` read at `now`.
    fn anchored(mut self, now: Instant, wall: SystemTime) -> Self {
        let on_wall = |t: Instant| {
            let left = t.saturating_duration_since(now);
            wall.checked_add(left).unwrap_or(wall)
        };
        let (fresh, usable) = (on_wall(self.fresh_until), on_wall(self.usable_until));
        let coarse = |t: SystemTime| epoch_nanos(t.checked_sub(COARSE_SLACK).unwrap_or(wall));
        self.walls = Some((fresh, usable));
        self.coarse_walls = (coarse(fresh), coarse(usable));
        self
    }

    pub(crate) fn is_fresh(&self, now: Instant) -> bool {
        now < self.fresh_until
    }

    pub(crate) fn is_usable(&self, now: Instant) -> bool {
        now < self.usable_until
    }

    /// Fresh by the monotonic clock and by the wall clock.
    pub(crate) fn is_fresh_at(&self, now: Instant, wall: SystemTime) -> bool {
        self.is_fresh(now) && self.walls.is_none_or(|(fresh, _)| wall < fresh)
    }

    /// Usable by the monotonic clock and by the wall clock.
    pub(crate) fn is_usable_at(&self, now: Instant, wall: SystemTime) -> bool {
        self.is_usable(now) && self.walls.is_none_or(|(_, usable)| wall < usable)
    }

    /// Records a read. A load first, so the common case writes nothing and
    /// threads reading the same value do not fight over its cache line.
    pub(crate) fn mark_used(&self) {
        if !self.used.load(Ordering::Relaxed) {
            self.used.store(true, Ordering::Relaxed);
        }
    }
}

/// What a fetch returns.
pub(crate) type FetchFuture<T> =
    Pin<Box<dyn Future<Output = Result<Stamped<T>, Error>> + Send + 'static>>;

/// How a cell gets a new value: called under the cell's lock to build the
/// future (no IO until it is polled), which the cell then runs in a task
/// of its own. `None` when the owner of the cell is gone.
///
/// Implementations hold a `Weak` reference to the client, so a sleeping
/// refresher keeps nothing alive.
pub(crate) trait Fetcher<T>: Send + Sync + 'static {
    fn fetch(&self, progress: Progress) -> Option<FetchFuture<T>>;
}

impl<T, F> Fetcher<T> for F
where
    F: Fn(Progress) -> Option<FetchFuture<T>> + Send + Sync + 'static,
{
    fn fetch(&self, progress: Progress) -> Option<FetchFuture<T>> {
        self(progress)
    }
}

/// A running fetch's attempts so far, for callers whose own deadline
/// passes while they wait for it.
#[derive(Clone, Default)]
pub(crate) struct Progress(Arc<Mutex<ProgressState>>);

#[derive(Default)]
struct ProgressState {
    attempts: u32,
    last: Option<Error>,
}

impl Progress {
    /// Records that attempt `attempt` (1-based) started.
    pub(crate) fn started(&self, attempt: u32) {
        let mut p = lock(&self.0);
        p.attempts = p.attempts.max(attempt);
    }

    /// Records that attempt `attempt` (1-based) failed with `err`.
    pub(crate) fn failed(&self, attempt: u32, err: &Error) {
        let mut p = lock(&self.0);
        p.attempts = p.attempts.max(attempt);
        p.last = Some(err.clone());
    }

    /// The error for a caller whose deadline passed while it waited.
    fn deadline_error(&self) -> Error {
        let p = lock(&self.0);
        Error::DeadlineExceeded {
            attempts: p.attempts,
            last: Box::new(p.last.clone().unwrap_or_else(|| {
                Error::Transport(
                    TransportError::new(TransportErrorKind::Timeout)
                        .with_detail("no answer before the caller's deadline"),
                )
            })),
        }
    }
}

/// How long failures are remembered, and the wall clock to read an
/// HTTP-date `Retry-After` with.
#[derive(Clone)]
pub(crate) struct Memory {
    pub(crate) retry: RetryPolicy,
    pub(crate) failures: FailureMemory,
    pub(crate) clock: Arc<dyn Clock>,
}

/// What a caller accepts from the cell.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Want {
    /// Any usable value (a due one starts a background refresh).
    Usable,
    /// A usable value fetched after this instant; an older one is
    /// refreshed and waited for (a JWKS that lacks a `kid`).
    FetchedAfter(Instant),
}

/// The last failed fetch and when the cell may try again.
#[derive(Clone)]
pub(crate) struct Failure {
    pub(crate) error: Error,
    pub(crate) not_before: Instant,
}

/// A cell's state at one instant, for health reports.
pub(crate) struct Snapshot<T> {
    pub(crate) value: Option<Arc<Stamped<T>>>,
    pub(crate) refreshing: bool,
    pub(crate) failure: Option<Failure>,
    pub(crate) consecutive_failures: u32,
}

/// A value that must be refreshed; see the module documentation.
pub(crate) struct Refresh<T> {
    /// `token`, `domain`, `jwks`, `consumer`: in logs and metrics.
    name: &'static str,
    scheduled: bool,
    memory: Memory,
    /// Whether `memory.clock` is [`SystemClock`], whose coarse time the
    /// lock-free path then reads directly, without the dynamic call.
    system_clock: bool,
    fetcher: Box<dyn Fetcher<T>>,
    current: ArcSwapOption<Stamped<T>>,
    /// This cell's number, never given to another cell of the process, so
    /// that a thread's cached copy of a value ([`Refresh::with_current`])
    /// is never taken for another cell's.
    id: u64,
    /// Counts the stores into `current`; bumped after each, so a thread's
    /// cached copy made at an older count is known to be stale.
    stores: AtomicU64,
    /// Whether the cell's own task (a fetch, or a refresher asleep until
    /// its time) sees to the stored value, so that a caller may take a due
    /// but usable value without the lock: mirrors `state.task.is_some()`.
    in_charge: AtomicBool,
    state: Apart<Mutex<State<T>>>,
    /// Woken at every outcome of a fetch (value, error, or abandoned).
    outcome: Apart<Notify>,
}

struct State<T> {
    task: Option<Task>,
    failure: Option<Failure>,
    consecutive_failures: u32,
    /// Counts outcomes, so a waiter can tell one arrived.
    generation: u64,
    /// The latest outcome; `None` after an abandoned fetch.
    last: Option<Result<Arc<Stamped<T>>, Error>>,
    next_id: u64,
}

struct Task {
    id: u64,
    abort: AbortHandle,
    /// `Some` while fetching; `None` while sleeping until a scheduled
    /// refresh.
    fetching: Option<Progress>,
}

/// A field on cache lines of its own. The lock and the waiters' list are
/// written whenever a fetch starts or ends; apart, those writes leave the
/// lines of the fields the lock-free path reads (the stored value, the
/// `in_charge` flag) valid in every reader's cache.
#[repr(align(128))]
struct Apart<T>(T);

impl<T> std::ops::Deref for Apart<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Cell numbers ([`Refresh::id`]); 0 is never given.
static NEXT_CELL: AtomicU64 = AtomicU64::new(1);

/// How many cells' values a thread keeps copies of; a power of two.
const LOCAL_SLOTS: usize = 4;

/// A thread's copy of one cell's value.
struct Local {
    cell: u64,
    stores: u64,
    value: Arc<dyn Any + Send + Sync>,
}

std::thread_local! {
    /// This thread's copies, one slot per cell number modulo the length.
    static LOCAL: RefCell<[Option<Local>; LOCAL_SLOTS]> =
        const { RefCell::new([None, None, None, None]) };
}

/// What a caller does after looking at the state.
enum Step<T> {
    Done(Result<Arc<Stamped<T>>, Error>),
    Wait { generation: u64, progress: Progress },
}

impl<T: Send + Sync + 'static> Refresh<T> {
    pub(crate) fn new(
        name: &'static str,
        scheduled: bool,
        memory: Memory,
        fetcher: impl Fetcher<T>,
    ) -> Arc<Self> {
        let system_clock = (&*memory.clock as &dyn std::any::Any).is::<SystemClock>();
        Arc::new(Refresh {
            name,
            scheduled,
            system_clock,
            memory,
            fetcher: Box::new(fetcher),
            current: ArcSwapOption::empty(),
            id: NEXT_CELL.fetch_add(1, Ordering::Relaxed),
            stores: AtomicU64::new(0),
            in_charge: AtomicBool::new(false),
            state: Apart(Mutex::new(State {
                task: None,
                failure: None,
                consecutive_failures: 0,
                generation: 0,
                last: None,
                next_id: 0,
            })),
            outcome: Apart(Notify::new()),
        })
    }

    /// Whether a caller may take `value` at once, without the lock: it is
    /// fresh, or it is usable and the cell's own task sees to its refresh
    /// (so the caller has nothing to start). A read of the value.
    ///
    /// A scheduled cell's value that its task still watches
    /// ([`Stamped::ended`] unset) is checked on the coarse wall clock
    /// first, [`COARSE_SLACK`] short of each wall deadline:
    /// - before `fresh_until` it is taken with no other clock read: the
    ///   timer covers a wall clock set back (it refreshes the value on the
    ///   monotonic clock and ends it at `usable_until`), the wall clock a
    ///   timer that a suspended machine held back;
    /// - before `usable_until` it is taken after one monotonic read that
    ///   shows the refresh point passed on that clock too (so the task's
    ///   timer has started the refresh: a value due by the wall clock alone,
    ///   after a suspend, is left to the precise path, whose caller starts
    ///   it).
    ///
    /// Nothing this reads is written when a refresh begins.
    #[inline]
    pub(crate) fn at_once(&self, value: &Stamped<T>) -> bool {
        if self.scheduled && !value.ended.load(Ordering::Relaxed) {
            let wall = self.coarse_nanos();
            if wall < value.coarse_walls.0 {
                value.mark_used();
                return true;
            }
            if wall < value.coarse_walls.1
                && self.in_charge.load(Ordering::Acquire)
                && self.due_now(value)
            {
                metrics::stale_served(self.name);
                value.mark_used();
                return true;
            }
        }
        self.at_once_precise(value)
    }

    /// Whether `value`'s refresh point has passed on the monotonic clock
    /// (so the cell's timer has started its refresh) and its end has not.
    ///
    /// A precise read, taken only between a value's refresh point and the
    /// arrival of its successor (a fetch's time). The coarse monotonic
    /// clock was tried and measured (`bench/benches/refresh.rs`): 10 ns
    /// cheaper per call in that window, but the first call in it took
    /// 40 ns longer (p50), its code being cold where `Instant::now` is
    /// kept warm by the rest of a program.
    #[inline]
    fn due_now(&self, value: &Stamped<T>) -> bool {
        let now = Instant::now();
        !value.is_fresh(now) && value.is_usable(now)
    }

    /// The coarse wall clock in nanoseconds since the Unix epoch
    /// (`u64::MAX` when it cannot be read, so nothing passes for fresh).
    #[inline]
    fn coarse_nanos(&self) -> u64 {
        if self.system_clock {
            coarse_epoch_nanos()
        } else {
            nanos_or_max(self.memory.clock.now_coarse())
        }
    }

    /// [`Refresh::at_once`] on both precise clocks.
    fn at_once_precise(&self, value: &Stamped<T>) -> bool {
        let now = Instant::now();
        let wall = self.memory.clock.now();
        // Due by the wall clock alone (the machine slept): the cell's task
        // still sleeps on the monotonic clock, so it is not seeing to the
        // refresh, and the caller must start it.
        let ok = value.is_fresh_at(now, wall)
            || (value.is_usable_at(now, wall) && !value.is_fresh(now) && {
                let in_charge = self.in_charge.load(Ordering::Acquire);
                if in_charge {
                    metrics::stale_served(self.name);
                }
                in_charge
            });
        if ok {
            value.mark_used();
        }
        ok
    }

    /// Publishes whether the cell's task is in charge, after `state.task`
    /// changed (under the lock). The flag is written only when it changes,
    /// so readers keep its cache line. A task that ends no longer watches
    /// the stored value's deadlines, so that value is marked
    /// [`Stamped::ended`].
    fn sync_charge(&self, state: &State<T>) {
        let on = state.task.is_some();
        if self.in_charge.load(Ordering::Relaxed) != on {
            self.in_charge.store(on, Ordering::Release);
        }
        if !on {
            if let Some(value) = self.current.load().as_ref() {
                value.ended.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The stored value, fresh or not, without any check or lock.
    pub(crate) fn peek(&self) -> arc_swap::Guard<Option<Arc<Stamped<T>>>> {
        self.current.load()
    }

    /// Replaces the stored value; then counts the store, so that threads'
    /// cached copies of the old one are seen to be stale.
    fn set_current(&self, value: Option<Arc<Stamped<T>>>) {
        self.current.store(value);
        self.stores.fetch_add(1, Ordering::Release);
    }

    /// `f` of the stored value (`None` when there is none), read through
    /// this thread's copy of it: the hot path of [`AppJwtClient::token`]
    /// (crate::AppJwtClient::token). A copy is taken when the thread first
    /// reads the value and is used while the cell's store count is what it
    /// was then, so a read costs one load of that count and no atomic
    /// read-modify-write (an `ArcSwap` load costs two).
    ///
    /// A thread keeps copies for [`LOCAL_SLOTS`] cells (by cell number): a
    /// thread reading more cells in turn replaces copies, which costs what
    /// [`Refresh::peek`] does plus a reference count. A kept copy holds
    /// the value (not the cell) until it is replaced or the thread ends.
    #[inline]
    pub(crate) fn with_current<R>(&self, f: impl FnOnce(&Stamped<T>) -> R) -> Option<R> {
        // Read before the value: a store in between leaves a copy of the
        // newer value under the older count, which the next read replaces.
        let stores = self.stores.load(Ordering::Acquire);
        let mut f = Some(f);
        // `try_with`: a thread whose locals are being destroyed has no
        // slots, and reads through the slow path.
        let hit = LOCAL
            .try_with(|slots| {
                let slots = slots.try_borrow().ok()?;
                let local = slots.get(self.slot())?.as_ref()?;
                if local.cell != self.id || local.stores != stores {
                    return None;
                }
                let value = local.value.downcast_ref::<Stamped<T>>()?;
                f.take().map(|f| f(value))
            })
            .ok()
            .flatten();
        match (hit, f) {
            (Some(out), _) => Some(out),
            (None, Some(f)) => self.with_current_slow(stores, f),
            (None, None) => None,
        }
    }

    /// [`Refresh::with_current`] without a usable copy: reads the value
    /// as [`Refresh::peek`] does, and keeps a copy of it if the thread's
    /// slot is free for it: empty, holding this cell's older value, or
    /// holding a value no cell holds any more. A slot another live cell
    /// uses is left to it, so two cells a thread reads in turn do not
    /// evict each other on every call (the second reads as before, through
    /// the `ArcSwap` guard). The replaced copy is dropped once out of the
    /// thread's slots.
    #[cold]
    fn with_current_slow<R>(&self, stores: u64, f: impl FnOnce(&Stamped<T>) -> R) -> Option<R> {
        let guard = self.current.load();
        let value = guard.as_ref()?;
        let out = f(value);
        let replaced = LOCAL.try_with(|slots| {
            let mut slots = slots.try_borrow_mut().ok()?;
            let slot = slots.get_mut(self.slot())?;
            let free = slot
                .as_ref()
                .is_none_or(|l| l.cell == self.id || Arc::strong_count(&l.value) == 1);
            if !free {
                return None;
            }
            let copy: Arc<dyn Any + Send + Sync> = Arc::clone(value) as _;
            slot.replace(Local {
                cell: self.id,
                stores,
                value: copy,
            })
        });
        drop(replaced);
        Some(out)
    }

    fn slot(&self) -> usize {
        // LOCAL_SLOTS is a power of two; the cast keeps the low bits.
        (self.id as usize) & (LOCAL_SLOTS - 1)
    }

    /// A value the caller accepts: at once when one is stored, else the
    /// outcome of the one fetch in flight (started if needed), waited for
    /// until `deadline` (`None`: no limit).
    pub(crate) async fn get(
        self: &Arc<Self>,
        want: Want,
        deadline: Option<Instant>,
    ) -> Result<Arc<Stamped<T>>, Error> {
        loop {
            // Created before the state is read: `notify_waiters` wakes
            // every `Notified` that exists when it is called, polled or
            // not, so no outcome can slip between the check and the wait.
            let notified = self.outcome.notified();
            let (generation, progress) = match self.step(want) {
                Step::Done(result) => return result,
                Step::Wait {
                    generation,
                    progress,
                } => (generation, progress),
            };
            let woken = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, notified).await.is_ok(),
                None => {
                    notified.await;
                    true
                }
            };
            if !woken {
                return Err(progress.deadline_error());
            }
            let state = lock(&self.state);
            if state.generation != generation {
                match &state.last {
                    Some(Ok(value)) => {
                        value.mark_used();
                        return Ok(Arc::clone(value));
                    }
                    Some(Err(e)) => return Err(e.clone()),
                    // Abandoned (the runtime that ran it shut down): look
                    // again, which starts another fetch.
                    None => {}
                }
            }
        }
    }

    fn step(self: &Arc<Self>, want: Want) -> Step<T> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        let wall = self.memory.clock.now();
        let current = self.current.load_full();
        let mut to_abort = None;
        if let Some(value) = &current {
            let accepted = value.is_usable_at(now, wall)
                && match want {
                    Want::Usable => true,
                    Want::FetchedAfter(t) => value.fetched_at > t,
                };
            if accepted {
                if !value.is_fresh_at(now, wall) {
                    metrics::stale_served(self.name);
                    if self.may_start(&state, now) {
                        to_abort = self.start(&mut state).1;
                    }
                }
                value.mark_used();
                drop(state);
                abort(to_abort);
                return Step::Done(Ok(Arc::clone(value)));
            }
        }
        let progress = match &state.task {
            Some(Task {
                fetching: Some(progress),
                ..
            }) => {
                metrics::coalesced(self.name);
                progress.clone()
            }
            _ => {
                if let Some(failure) = &state.failure {
                    if now < failure.not_before {
                        metrics::fast_fail(self.name, &failure.error);
                        return Step::Done(Err(Error::Backoff {
                            retry_in: failure.not_before - now,
                            last: Box::new(failure.error.clone()),
                        }));
                    }
                }
                let (progress, sleeping) = self.start(&mut state);
                to_abort = sleeping;
                match progress {
                    Some(progress) => progress,
                    None => {
                        drop(state);
                        abort(to_abort);
                        return Step::Done(Err(owner_gone()));
                    }
                }
            }
        };
        let generation = state.generation;
        drop(state);
        abort(to_abort);
        Step::Wait {
            generation,
            progress,
        }
    }

    /// Whether a background refresh may start now: none is running and
    /// no failure asks to wait.
    fn may_start(&self, state: &State<T>, now: Instant) -> bool {
        let fetching = matches!(
            &state.task,
            Some(Task {
                fetching: Some(_),
                ..
            })
        );
        let held = state.failure.as_ref().is_some_and(|f| now < f.not_before);
        !fetching && !held
    }

    /// Starts a fetch in a task of its own, replacing a sleeping
    /// refresher. The progress is `None` when the owner is gone. The
    /// sleeping task's handle is returned, to be aborted once the lock is
    /// released: aborting may drop its future, whose guard takes the lock.
    fn start(self: &Arc<Self>, state: &mut State<T>) -> (Option<Progress>, Option<AbortHandle>) {
        let sleeping = state.task.take().map(|t| t.abort);
        let progress = Progress::default();
        let Some(fetch) = self.fetcher.fetch(progress.clone()) else {
            return (None, sleeping);
        };
        let id = state.next_id;
        state.next_id = state.next_id.wrapping_add(1);
        let cell = Arc::clone(self);
        let handle = tokio::spawn(cell.run(id, fetch));
        state.task = Some(Task {
            id,
            abort: handle.abort_handle(),
            fetching: Some(progress.clone()),
        });
        self.sync_charge(state);
        (Some(progress), sleeping)
    }

    /// The body of a cell's task: fetch, publish, and for a scheduled cell
    /// sleep until the next refresh and go on.
    async fn run(self: Arc<Self>, mut id: u64, mut fetch: FetchFuture<T>) {
        let mut guard = Abandon {
            cell: &self,
            id,
            armed: true,
        };
        loop {
            let outcome = self.watching(fetch).await;
            let Some(wake_at) = self.publish(id, outcome) else {
                guard.armed = false;
                return;
            };
            self.watching(tokio::time::sleep_until(wake_at)).await;
            match self.wake(id) {
                Some((next_id, next)) => {
                    id = next_id;
                    guard.id = next_id;
                    fetch = next;
                }
                None => {
                    guard.armed = false;
                    return;
                }
            }
        }
    }

    /// Stores a fetch's outcome, wakes the waiters, and tells a scheduled
    /// task when to wake up next (`None`: end).
    fn publish(&self, id: u64, outcome: Result<Stamped<T>, Error>) -> Option<Instant> {
        let mut state = lock(&self.state);
        if state.task.as_ref().map(|t| t.id) != Some(id) {
            // Replaced meanwhile (cannot happen while it runs, but a stale
            // task must never overwrite a newer outcome).
            return None;
        }
        let now = Instant::now();
        state.generation = state.generation.wrapping_add(1);
        let wake_at = match outcome {
            Ok(stamped) => {
                metrics::fetched(self.name, None);
                let value = Arc::new(stamped.anchored(now, self.memory.clock.now()));
                self.set_current(Some(Arc::clone(&value)));
                state.failure = None;
                state.consecutive_failures = 0;
                state.last = Some(Ok(Arc::clone(&value)));
                self.scheduled.then_some(value.fresh_until)
            }
            Err(error) => {
                metrics::fetched(self.name, Some(&error));
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                let hold = self.memory.retry.hold_off(
                    &self.memory.failures,
                    &error,
                    state.consecutive_failures,
                    self.memory.clock.now(),
                );
                let not_before = now.checked_add(hold).unwrap_or(now);
                let usable = self
                    .current
                    .load()
                    .as_ref()
                    .is_some_and(|v| v.is_usable(now));
                if usable {
                    tracing::warn!(
                        cache = self.name,
                        error = %error,
                        failures = state.consecutive_failures,
                        retry_in_ms = millis(hold),
                        "refresh failed, serving the cached value",
                    );
                } else {
                    tracing::warn!(
                        cache = self.name,
                        error = %error,
                        failures = state.consecutive_failures,
                        retry_in_ms = millis(hold),
                        "fetch failed, no usable value",
                    );
                }
                state.failure = Some(Failure {
                    error: error.clone(),
                    not_before,
                });
                state.last = Some(Err(error));
                (self.scheduled && usable).then_some(not_before)
            }
        };
        match (wake_at, state.task.as_mut()) {
            (Some(_), Some(task)) => task.fetching = None,
            _ => state.task = None,
        }
        self.sync_charge(&state);
        drop(state);
        self.outcome.notify_waiters();
        wake_at
    }

    /// Runs `work` (a fetch, or the sleep until the next one) and, should
    /// the stored value's `usable_until` pass meanwhile, ends it on time
    /// ([`Stamped::ended`]): the lock-free path relies on it.
    async fn watching<F: Future>(&self, work: F) -> F::Output {
        let until = self
            .current
            .load()
            .as_ref()
            .filter(|v| !v.ended.load(Ordering::Relaxed))
            .map(|v| v.usable_until);
        let mut work = std::pin::pin!(work);
        if let Some(until) = until {
            let mut timer = std::pin::pin!(tokio::time::sleep_until(until));
            let done = std::future::poll_fn(|cx| match work.as_mut().poll(cx) {
                Poll::Ready(out) => Poll::Ready(Some(out)),
                Poll::Pending => timer.as_mut().poll(cx).map(|()| None),
            })
            .await;
            if let Some(out) = done {
                return out;
            }
            if let Some(value) = self.current.load().as_ref() {
                if !value.is_usable(Instant::now()) {
                    value.ended.store(true, Ordering::Relaxed);
                }
            }
        }
        work.await
    }

    /// A scheduled task woke up: start the next fetch if the value is still
    /// worth keeping warm, else end.
    fn wake(self: &Arc<Self>, id: u64) -> Option<(u64, FetchFuture<T>)> {
        let mut state = lock(&self.state);
        if state.task.as_ref().map(|t| t.id) != Some(id) {
            return None;
        }
        let now = Instant::now();
        let keep = self
            .current
            .load()
            .as_ref()
            .is_some_and(|v| v.is_usable(now) && v.used.load(Ordering::Relaxed));
        let progress = Progress::default();
        let fetch = if keep {
            self.fetcher.fetch(progress.clone())
        } else {
            None
        };
        let Some(fetch) = fetch else {
            state.task = None;
            self.sync_charge(&state);
            return None;
        };
        let next_id = state.next_id;
        state.next_id = state.next_id.wrapping_add(1);
        if let Some(task) = state.task.as_mut() {
            task.id = next_id;
            task.fetching = Some(progress);
        }
        Some((next_id, fetch))
    }

    /// Drops the stored value if `refused` says so (it is the one a server
    /// refused); returns whether it did. The next caller fetches.
    pub(crate) fn invalidate(&self, refused: impl FnOnce(&Stamped<T>) -> bool) -> bool {
        let _state = lock(&self.state);
        let current = self.current.load_full();
        match current {
            Some(value) if refused(&value) => {
                self.set_current(None);
                true
            }
            _ => false,
        }
    }

    /// Whether no usable value is stored and the last fetch failed (its
    /// failure may still ask callers to wait, or no longer).
    pub(crate) fn failing(&self) -> bool {
        let state = lock(&self.state);
        !self.holds_usable(Instant::now()) && state.failure.is_some()
    }

    /// Whether the stored value is usable at `now`, by both clocks.
    fn holds_usable(&self, now: Instant) -> bool {
        let wall = self.memory.clock.now();
        self.current
            .load()
            .as_ref()
            .is_some_and(|v| v.is_usable_at(now, wall))
    }

    /// Starts a fetch in the background when no usable value is stored,
    /// none is in flight and no failure asks to wait; nobody waits for it.
    /// Whether one was started.
    pub(crate) fn prime(self: &Arc<Self>) -> bool {
        let mut state = lock(&self.state);
        let now = Instant::now();
        if self.holds_usable(now) || !self.may_start(&state, now) {
            return false;
        }
        let (progress, to_abort) = self.start(&mut state);
        drop(state);
        abort(to_abort);
        progress.is_some()
    }

    /// Makes the stored value due now (still usable) and starts a
    /// background refresh, if `suspect` says so: a host from a possibly
    /// stale map could not be reached.
    pub(crate) fn mark_due(self: &Arc<Self>, suspect: impl FnOnce(&Stamped<T>) -> bool)
    where
        T: Clone,
    {
        let mut state = lock(&self.state);
        let now = Instant::now();
        let Some(value) = self.current.load_full() else {
            return;
        };
        if !value.is_fresh(now) || !suspect(&value) {
            return;
        }
        let due = Stamped::new(
            value.value.clone(),
            value.fetched_at,
            now,
            value.usable_until,
        )
        .anchored(now, self.memory.clock.now());
        due.used.store(true, Ordering::Relaxed);
        self.set_current(Some(Arc::new(due)));
        let mut to_abort = None;
        if self.may_start(&state, now) {
            to_abort = self.start(&mut state).1;
        }
        drop(state);
        abort(to_abort);
    }

    /// The failure that still asks callers to wait, with the count of
    /// failures in a row: for a cell's owner that is about to drop it and
    /// must not forget what a server said ([`Refresh::hold`]).
    pub(crate) fn held(&self) -> Option<(Failure, u32)> {
        let state = lock(&self.state);
        let failure = state.failure.as_ref()?;
        (Instant::now() < failure.not_before).then(|| (failure.clone(), state.consecutive_failures))
    }

    /// Takes over a failure another cell of the same source remembered
    /// ([`Refresh::held`]): until its not-before no fetch is started. A
    /// failure of this cell's own that ends later is kept instead.
    pub(crate) fn hold(&self, failure: Failure, consecutive: u32) {
        let mut state = lock(&self.state);
        if state
            .failure
            .as_ref()
            .is_some_and(|f| f.not_before >= failure.not_before)
        {
            return;
        }
        state.failure = Some(failure);
        state.consecutive_failures = state.consecutive_failures.max(consecutive);
    }

    /// The state for a health report.
    pub(crate) fn snapshot(&self) -> Snapshot<T> {
        let state = lock(&self.state);
        Snapshot {
            value: self.current.load_full(),
            refreshing: matches!(
                &state.task,
                Some(Task {
                    fetching: Some(_),
                    ..
                })
            ),
            failure: state.failure.clone(),
            consecutive_failures: state.consecutive_failures,
        }
    }

    /// Stops the cell's task (a fetch in progress or a sleeping
    /// refresher). Waiters, if any, are woken as for an abandoned fetch.
    pub(crate) fn shutdown(&self) {
        let task = {
            let mut state = lock(&self.state);
            let task = state.task.take();
            self.sync_charge(&state);
            task
        };
        if let Some(task) = task {
            task.abort.abort();
            let mut state = lock(&self.state);
            state.generation = state.generation.wrapping_add(1);
            state.last = None;
            drop(state);
            self.outcome.notify_waiters();
        }
    }
}

fn abort(handle: Option<AbortHandle>) {
    if let Some(h) = handle {
        h.abort();
    }
}

fn owner_gone() -> Error {
    Error::Transport(
        TransportError::new(TransportErrorKind::Other).with_detail("the client was dropped"),
    )
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Clears a task's slot when its future is dropped before it ended (the
/// task was aborted or its runtime shut down), so that waiters are woken
/// and the next caller starts another fetch instead of waiting forever.
struct Abandon<'a, T: Send + Sync + 'static> {
    cell: &'a Refresh<T>,
    id: u64,
    armed: bool,
}

impl<T: Send + Sync + 'static> Drop for Abandon<'_, T> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = lock(&self.cell.state);
        if state.task.as_ref().map(|t| t.id) != Some(self.id) {
            return;
        }
        let was_fetching = state.task.as_ref().is_some_and(|t| t.fetching.is_some());
        state.task = None;
        self.cell.sync_charge(&state);
        if was_fetching {
            state.generation = state.generation.wrapping_add(1);
            state.last = None;
            drop(state);
            self.cell.outcome.notify_waiters();
        }
    }
}

mod holds;
mod keyed;
pub(crate) use holds::{Expiring, Holds};
pub(crate) use keyed::Keyed;

#[cfg(test)]
mod tests;
