//! What a command is waiting for.
//!
//! [`Watched`] is the `Transport` the CLI hands the client: it passes each
//! request to the real transport and notes which host it went to, for which
//! step, and how many times that step has been tried. With that a command
//! that has waited 2 s can say what it waits for, a command cut off by
//! `--timeout` can say where it was, and an error can name its attempt,
//! all without any help from `lp-appjwt`.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lp_appjwt::{Transport, TransportFuture};
use tokio::time::Instant;

use crate::exit::Failure;

/// After this long without an answer a command says what it waits for.
pub const PATIENCE: Duration = Duration::from_secs(2);

/// A step of the flow, told apart by the request's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    DomainLookup,
    Token,
    KeySet,
    ConsumerJws,
    SendApi,
    Other,
}

impl Step {
    fn of(path: &str) -> Step {
        if path.contains("/service/") {
            Step::DomainLookup
        } else if path.ends_with("/app/token") {
            Step::Token
        } else if path.ends_with("/well-known/jwks") {
            Step::KeySet
        } else if path.ends_with("/consumer") {
            Step::ConsumerJws
        } else if path.contains("/messaging/consumer/conversation") {
            Step::SendApi
        } else {
            Step::Other
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Step::DomainLookup => "domain lookup",
            Step::Token => "token request",
            Step::KeySet => "key set",
            Step::ConsumerJws => "consumer jws request",
            Step::SendApi => "send api request",
            Step::Other => "request",
        }
    }
}

/// A request sent, and whether it is still waiting for its answer.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Which request this is, in the order sent.
    id: u64,
    pub step: Step,
    pub host: String,
    /// 1 for the first request of this step to this host.
    pub attempt: u32,
    pub in_flight: bool,
    /// No answer came, or one that asks to try again (429, 5xx).
    pub failed: bool,
}

#[derive(Debug, Default)]
struct State {
    /// Requests sent per step and host.
    counts: Vec<(Step, String, u32)>,
    /// The latest requests, oldest first (a token request and its key set
    /// may be in flight at once).
    recent: Vec<Sent>,
    next_id: u64,
    /// The `kid` of the last token Sentinel handed out (never the token).
    token_kid: Option<String>,
    /// Set when the command has ended; no progress line after that.
    done: bool,
}

impl State {
    /// See [`Watch::last`].
    fn telling(&self) -> Option<&Sent> {
        let latest = |f: fn(&Sent) -> bool| self.recent.iter().rev().find(|r| f(r));
        latest(|r| r.in_flight)
            .or_else(|| latest(|r| r.failed))
            .or_else(|| self.recent.last())
    }
}

/// Shared notes about the requests of one command.
#[derive(Debug, Clone)]
pub struct Watch {
    state: Arc<Mutex<State>>,
    /// Attempts the retry policy allows per step.
    pub allowed: u32,
    /// `--timeout`.
    pub timeout: Duration,
}

impl Watch {
    pub fn new(allowed: u32, timeout: Duration) -> Self {
        Watch {
            state: Arc::default(),
            allowed,
            timeout,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A panic elsewhere cannot leave these notes half written in a way
        // that matters; keep reporting.
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The request that says best what the command is doing or what went
    /// wrong: the latest one still waiting for its answer, else the latest
    /// that failed, else the latest sent.
    pub fn last(&self) -> Option<Sent> {
        self.with(|s| s.telling().cloned())
    }

    /// The `kid` of the last token received.
    pub fn token_kid(&self) -> Option<String> {
        self.with(|s| s.token_kid.clone())
    }

    /// The host the last request of `step` went to.
    pub fn host_of(&self, step: Step) -> Option<String> {
        self.with(|s| {
            s.counts
                .iter()
                .rev()
                .find(|(st, _, _)| *st == step)
                .map(|(_, h, _)| h.clone())
        })
    }

    /// `token request to HOST, attempt 2 of 4`.
    pub fn describe(&self, sent: &Sent) -> String {
        let step = sent.step.describe();
        let host = &sent.host;
        match sent.step {
            // The key set is fetched within a token attempt, not retried
            // on its own; the Send API's requests are never retried by
            // the retry policy (the middleware's 401 ladder is its own).
            Step::KeySet | Step::SendApi | Step::Other => format!("{step} to {host}"),
            _ => format!(
                "{step} to {host}, attempt {} of {}",
                sent.attempt, self.allowed
            ),
        }
    }

    /// Wraps `transport` so that its requests are noted here.
    pub fn transport<T: Transport>(&self, transport: T) -> Watched<T> {
        Watched {
            inner: transport,
            watch: self.clone(),
        }
    }

    /// Notes a request; its id for [`Watch::answered`].
    fn sent(&self, step: Step, host: String) -> u64 {
        self.with(|s| {
            let attempt = match s
                .counts
                .iter_mut()
                .find(|(st, h, _)| *st == step && *h == host)
            {
                Some((_, _, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    s.counts.push((step, host.clone(), 1));
                    1
                }
            };
            let id = s.next_id;
            s.next_id += 1;
            s.recent.push(Sent {
                id,
                step,
                host,
                attempt,
                in_flight: true,
                failed: false,
            });
            // A command makes a handful of requests; keep the latest few.
            if s.recent.len() > 8 {
                s.recent.remove(0);
            }
            id
        })
    }

    fn answered(&self, id: u64, failed: bool, kid: Option<String>) {
        self.with(|s| {
            if let Some(sent) = s.recent.iter_mut().find(|r| r.id == id) {
                sent.in_flight = false;
                sent.failed = failed;
            }
            if kid.is_some() {
                s.token_kid = kid;
            }
        });
    }

    /// Runs `command` within `--timeout`, printing one line on stderr if it
    /// has waited [`PATIENCE`] for an answer. No progress line is printed
    /// once the command has ended, so it never follows the error line.
    pub async fn run<F>(&self, command: F) -> Result<(), Failure>
    where
        F: Future<Output = Result<(), Failure>>,
    {
        let progress = tokio::spawn(self.clone().progress());
        let result = match tokio::time::timeout(self.timeout, command).await {
            Ok(result) => result,
            Err(_) => Err(self.timed_out()),
        };
        self.with(|s| s.done = true);
        progress.abort();
        result
    }

    async fn progress(self) {
        let started = Instant::now();
        tokio::time::sleep(PATIENCE).await;
        // A request in flight, or a pause before retrying a failed one:
        // either way the command waits for a host. Busy with an answer it
        // has, it waits for nothing, and no line is due yet.
        loop {
            let printed = self.with(|s| {
                let sent = s.telling().filter(|l| l.in_flight || l.failed);
                let Some(sent) = sent.filter(|_| !s.done) else {
                    return s.done;
                };
                let what = self.describe(sent);
                let line = if sent.in_flight {
                    let waited = crate::human::short(started.elapsed());
                    format!("waiting for {what}, {waited} so far")
                } else {
                    format!("{what} failed, waiting to try again")
                };
                // Printed under the lock that `run` takes to mark the end,
                // so this line never comes after the error line.
                eprintln!(
                    "appjwt: {line} (gives up after {}, --timeout)",
                    crate::human::short(self.timeout)
                );
                true
            });
            if printed {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The failure for a command that ran out of `--timeout`.
    pub fn timed_out(&self) -> Failure {
        let limit = crate::human::short(self.timeout);
        let message = match self.last() {
            Some(sent) if sent.in_flight => format!(
                "no answer within {limit} (--timeout): {} was still waiting; \
                 check that the host answers, or raise --timeout",
                self.describe(&sent)
            ),
            Some(sent) => format!(
                "gave up after {limit} (--timeout) while waiting to try again after {}; \
                 raise --timeout to allow more retries",
                self.describe(&sent)
            ),
            None => format!("gave up after {limit} (--timeout) before any request"),
        };
        Failure::network(message)
    }
}

/// A transport whose requests a [`Watch`] notes. Clones share the
/// transport's pool (when `T`'s clones do) and the watch.
#[derive(Clone)]
pub struct Watched<T> {
    inner: T,
    watch: Watch,
}

impl<T: Transport> Transport for Watched<T> {
    fn send(&self, req: lp_appjwt::http::Request<Vec<u8>>) -> TransportFuture<'_> {
        let step = Step::of(req.uri().path());
        let host = req
            .uri()
            .authority()
            .map(ToString::to_string)
            .unwrap_or_default();
        let id = self.watch.sent(step, host);
        Box::pin(async move {
            let response = self.inner.send(req).await;
            let kid = match (&response, step) {
                (Ok(r), Step::Token) => token_kid(r),
                _ => None,
            };
            let failed = response.as_ref().map_or(true, |r| {
                r.status().is_server_error() || r.status().as_u16() == 429
            });
            self.watch.answered(id, failed, kid);
            response
        })
    }
}

/// The `kid` in the header of the token in a Sentinel answer, so that a
/// refused signature can say whose key signed it.
fn token_kid(response: &lp_appjwt::http::Response<Vec<u8>>) -> Option<String> {
    let parsed = lp_oauth::parse_token_response(response).ok()?;
    let token = lp_jwt::UnverifiedToken::decode(parsed.access_token.secret()).ok()?;
    token.header().kid.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_by_path() {
        let check = |path: &str, want: Step| assert_eq!(Step::of(path), want, "{path}");
        check("/api/account/1/service/baseURI.json", Step::DomainLookup);
        check(
            "/api/account/1/service/sentinel/baseURI.json",
            Step::DomainLookup,
        );
        check("/sentinel/api/account/1/app/token", Step::Token);
        check("/sentinel/api/v2/account/1/app/token", Step::Token);
        check("/sentinel/well-known/jwks", Step::KeySet);
        check("/api/account/1/consumer", Step::ConsumerJws);
        check("/", Step::Other);
    }

    #[test]
    fn attempts_count_per_step_and_host() {
        let w = Watch::new(4, Duration::from_secs(30));
        let check = |want: &str| {
            let last = w.last().map(|s| w.describe(&s)).unwrap_or_default();
            assert_eq!(last, want);
        };
        w.sent(Step::DomainLookup, "a:1".into());
        check("domain lookup to a:1, attempt 1 of 4");
        w.sent(Step::DomainLookup, "a:1".into());
        check("domain lookup to a:1, attempt 2 of 4");
        w.sent(Step::Token, "b:2".into());
        check("token request to b:2, attempt 1 of 4");
        w.sent(Step::KeySet, "b:2".into());
        check("key set to b:2");
        w.sent(Step::Token, "c:3".into());
        check("token request to c:3, attempt 1 of 4");
        assert_eq!(w.host_of(Step::DomainLookup).as_deref(), Some("a:1"));
    }
}
