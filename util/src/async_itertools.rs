//! `azip` and `azip_longest`: zip streams, polling each round's streams concurrently
//! (trio-util's `_async_itertools.py`), plus `try_azip` for streams of `Result`s.
//!
//! # How a round runs
//!
//! trio-util opens a nursery per round and calls `__anext__` on every iterator in it. Here a
//! round is a join inside the consumer's task: every stream that has not yet settled this
//! round is polled on each wake-up, until each has yielded an item or ended. No task, nursery
//! or cancel scope is involved, so nothing is held across `poll_next` calls (the checklist of
//! the semantics reference, item 7). The streams make progress concurrently, but in one task:
//! CPU-heavy streams do not run in parallel on several domains (spawn the producers, and zip
//! their channels, for that).
//!
//! A round that did not have to wait (every stream was ready) yields to the scheduler once
//! before its outcome, as Trio's nursery exit does; so every round is a checkpoint, and
//! `azip(())` (which yields `()` forever) cannot starve its domain.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::{FusedStream, Stream};
use trellis_runtime::poll_checkpoint;

/// Streams that [`azip`], [`azip_longest`] and [`try_azip`] can zip: tuples of 0 to 8
/// streams of any item types, a `Vec<S>`, or an array `[S; N]` of streams of one type.
///
/// Implemented by this crate only; the hidden items are the round machinery.
///
/// # Examples
///
/// ```
/// use futures_lite::stream;
/// use trellis::util::ZipStreams;
///
/// fn items_of<Z: ZipStreams>(_: &Z) -> &'static str {
///     std::any::type_name::<Z::Items>()
/// }
/// let pair = (stream::iter([1u8]), stream::iter(["a"]));
/// assert_eq!(items_of(&pair), "(u8, &str)");
/// ```
pub trait ZipStreams {
    /// The item of [`azip`]: one item of each stream (a tuple, `Vec` or array).
    type Items;
    /// The item of [`azip_longest`]: `Some(item)`, or `None` for a stream that has ended.
    type LongestItems;
    #[doc(hidden)]
    type Slots: round::Slots<Items = Self::Items, LongestItems = Self::LongestItems> + Unpin;
    #[doc(hidden)]
    fn into_slots(self) -> Self::Slots;
}

/// Streams of `Result`s that [`try_azip`] can zip: as [`ZipStreams`] (but at least one
/// stream, to name the error type), where every stream yields `Result<_, E>` with one `E`.
///
/// # Examples
///
/// ```
/// use futures_lite::stream;
/// use trellis::util::TryZipStreams;
///
/// fn error_of<Z: TryZipStreams>(_: &Z) -> &'static str {
///     std::any::type_name::<Z::Error>()
/// }
/// let pair = (stream::iter([Ok::<u8, String>(1)]), stream::iter([Ok::<_, String>('a')]));
/// assert_eq!(error_of(&pair), std::any::type_name::<String>());
/// ```
pub trait TryZipStreams: ZipStreams {
    /// The item of [`try_azip`] when every stream yielded `Ok`: the `Ok` values.
    type Oks;
    /// The error type all the streams share.
    type Error;
    #[doc(hidden)]
    fn take_error(slots: &mut Self::Slots) -> Option<Self::Error>;
    #[doc(hidden)]
    fn into_oks(items: Self::Items) -> Result<Self::Oks, Self::Error>;
}

mod round {
    //! The state of one round: a slot per stream.

    use super::*;

    /// One stream and what it produced this round.
    pub struct Slot<S: Stream> {
        /// `None` once the stream has ended (it is dropped then: the slot is fused).
        stream: Option<Pin<Box<S>>>,
        state: State<S::Item>,
    }

    impl<S: Stream> fmt::Debug for Slot<S> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let state = match self.state {
                State::Waiting => "waiting",
                State::Item(_) => "item",
                State::Ended => "ended",
            };
            f.debug_struct("Slot").field("state", &state).finish()
        }
    }

    // Items are never pinned (only the boxed stream is), so a slot may move whatever the item.
    impl<S: Stream> Unpin for Slot<S> {}

    enum State<T> {
        /// Not yet settled this round: poll the stream.
        Waiting,
        /// The stream's item of this round.
        Item(T),
        /// The stream has ended (in this round or an earlier one).
        Ended,
    }

    impl<S: Stream> Slot<S> {
        pub(super) fn new(stream: S) -> Slot<S> {
            Slot {
                stream: Some(Box::pin(stream)),
                state: State::Waiting,
            }
        }

        /// Polls the stream if it has not settled this round; whether it has now.
        pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> bool {
            if !matches!(self.state, State::Waiting) {
                return true;
            }
            let Some(stream) = self.stream.as_mut() else {
                self.state = State::Ended;
                return true;
            };
            match stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => self.state = State::Item(item),
                Poll::Ready(None) => {
                    self.state = State::Ended;
                    self.stream = None;
                }
                Poll::Pending => return false,
            }
            true
        }

        pub(super) fn has_ended(&self) -> bool {
            matches!(self.state, State::Ended)
        }

        /// This round's item (the slot then waits for the next round), or `None` if the
        /// stream has ended (it stays ended). Only after the round settled.
        pub(super) fn take(&mut self) -> Option<S::Item> {
            match std::mem::replace(&mut self.state, State::Waiting) {
                State::Item(item) => Some(item),
                State::Ended => {
                    self.state = State::Ended;
                    None
                }
                State::Waiting => unreachable!("a slot is taken only once its round settled"),
            }
        }
    }

    impl<S, T, E> Slot<S>
    where
        S: Stream<Item = Result<T, E>>,
    {
        /// Takes this round's item if it is an `Err`.
        pub(super) fn take_error(&mut self) -> Option<E> {
            if !matches!(self.state, State::Item(Err(_))) {
                return None;
            }
            match std::mem::replace(&mut self.state, State::Waiting) {
                State::Item(Err(e)) => Some(e),
                _ => unreachable!("checked above"),
            }
        }
    }

    /// The slots of all the zipped streams.
    pub trait Slots {
        /// See [`ZipStreams::Items`].
        type Items;
        /// See [`ZipStreams::LongestItems`].
        type LongestItems;
        /// Polls every stream not yet settled this round; `Ready` once all have settled.
        fn poll_round(&mut self, cx: &mut Context<'_>) -> Poll<()>;
        /// The round's items, or `None` if a stream ended (`azip` stops).
        fn take_items(&mut self) -> Option<Self::Items>;
        /// The round's items, `None` for the streams that ended; `None` if all have ended.
        fn take_longest(&mut self) -> Option<Self::LongestItems>;
    }
}

use round::{Slot, Slots};

fn settled(all: bool) -> Poll<()> {
    if all { Poll::Ready(()) } else { Poll::Pending }
}

macro_rules! zip_tuple {
    ($($S:ident $T:ident $i:tt),*) => {
        impl<$($S: Stream),*> ZipStreams for ($($S,)*) {
            type Items = ($($S::Item,)*);
            type LongestItems = ($(Option<$S::Item>,)*);
            type Slots = ($(Slot<$S>,)*);
            #[allow(clippy::unused_unit)] // the empty tuple
            fn into_slots(self) -> Self::Slots {
                ($(Slot::new(self.$i),)*)
            }
        }

        impl<$($S: Stream),*> Slots for ($(Slot<$S>,)*) {
            type Items = ($($S::Item,)*);
            type LongestItems = ($(Option<$S::Item>,)*);

            #[allow(unused_variables, unused_mut)] // the empty tuple
            fn poll_round(&mut self, cx: &mut Context<'_>) -> Poll<()> {
                let mut all = true;
                $( all &= self.$i.poll(cx); )*
                settled(all)
            }

            #[allow(clippy::unused_unit)]
            fn take_items(&mut self) -> Option<Self::Items> {
                if false $(|| self.$i.has_ended())* {
                    return None;
                }
                Some(($(self.$i.take()?,)*))
            }

            #[allow(clippy::unused_unit)]
            fn take_longest(&mut self) -> Option<Self::LongestItems> {
                if true $(&& self.$i.has_ended())* {
                    return None;
                }
                Some(($(self.$i.take(),)*))
            }
        }
    };
}

// `try_azip` needs at least one stream (to know the error type).
macro_rules! try_zip_tuple {
    ($($S:ident $T:ident $i:tt),*) => {
        impl<E, $($S, $T),*> TryZipStreams for ($($S,)*)
        where
            $($S: Stream<Item = Result<$T, E>>,)*
        {
            type Oks = ($($T,)*);
            type Error = E;

            fn take_error(slots: &mut Self::Slots) -> Option<E> {
                $(
                    if let Some(e) = slots.$i.take_error() {
                        return Some(e);
                    }
                )*
                None
            }

            fn into_oks(items: Self::Items) -> Result<Self::Oks, E> {
                Ok(($(items.$i?,)*))
            }
        }
    };
}

zip_tuple!();
zip_tuple!(S0 T0 0);
zip_tuple!(S0 T0 0, S1 T1 1);
zip_tuple!(S0 T0 0, S1 T1 1, S2 T2 2);
zip_tuple!(S0 T0 0, S1 T1 1, S2 T2 2, S3 T3 3);
zip_tuple!(S0 T0 0, S1 T1 1, S2 T2 2, S3 T3 3, S4 T4 4);
zip_tuple!(S0 T0 0, S1 T1 1, S2 T2 2, S3 T3 3, S4 T4 4, S5 T5 5);
zip_tuple!(S0 T0 0, S1 T1 1, S2 T2 2, S3 T3 3, S4 T4 4, S5 T5 5, S6 T6 6);
zip_tuple!(S0 T0 0, S1 T1 1, S2 T2 2, S3 T3 3, S4 T4 4, S5 T5 5, S6 T6 6, S7 T7 7);

try_zip_tuple!(S0 T0 0);
try_zip_tuple!(S0 T0 0, S1 T1 1);
try_zip_tuple!(S0 T0 0, S1 T1 1, S2 T2 2);
try_zip_tuple!(S0 T0 0, S1 T1 1, S2 T2 2, S3 T3 3);
try_zip_tuple!(S0 T0 0, S1 T1 1, S2 T2 2, S3 T3 3, S4 T4 4);
try_zip_tuple!(S0 T0 0, S1 T1 1, S2 T2 2, S3 T3 3, S4 T4 4, S5 T5 5);
try_zip_tuple!(S0 T0 0, S1 T1 1, S2 T2 2, S3 T3 3, S4 T4 4, S5 T5 5, S6 T6 6);
try_zip_tuple!(S0 T0 0, S1 T1 1, S2 T2 2, S3 T3 3, S4 T4 4, S5 T5 5, S6 T6 6, S7 T7 7);

impl<S: Stream> ZipStreams for Vec<S> {
    type Items = Vec<S::Item>;
    type LongestItems = Vec<Option<S::Item>>;
    type Slots = Vec<Slot<S>>;
    fn into_slots(self) -> Self::Slots {
        self.into_iter().map(Slot::new).collect()
    }
}

impl<S: Stream> Slots for Vec<Slot<S>> {
    type Items = Vec<S::Item>;
    type LongestItems = Vec<Option<S::Item>>;

    fn poll_round(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut all = true;
        for slot in self.iter_mut() {
            all &= slot.poll(cx);
        }
        settled(all)
    }

    fn take_items(&mut self) -> Option<Self::Items> {
        if self.iter().any(Slot::has_ended) {
            return None;
        }
        self.iter_mut().map(Slot::take).collect()
    }

    fn take_longest(&mut self) -> Option<Self::LongestItems> {
        if self.iter().all(Slot::has_ended) {
            return None;
        }
        Some(self.iter_mut().map(Slot::take).collect())
    }
}

impl<S, T, E> TryZipStreams for Vec<S>
where
    S: Stream<Item = Result<T, E>>,
{
    type Oks = Vec<T>;
    type Error = E;

    fn take_error(slots: &mut Self::Slots) -> Option<E> {
        slots.iter_mut().find_map(Slot::take_error)
    }

    fn into_oks(items: Self::Items) -> Result<Vec<T>, E> {
        items.into_iter().collect()
    }
}

impl<S: Stream, const N: usize> ZipStreams for [S; N] {
    type Items = [S::Item; N];
    type LongestItems = [Option<S::Item>; N];
    type Slots = [Slot<S>; N];
    fn into_slots(self) -> Self::Slots {
        self.map(Slot::new)
    }
}

impl<S: Stream, const N: usize> Slots for [Slot<S>; N] {
    type Items = [S::Item; N];
    type LongestItems = [Option<S::Item>; N];

    fn poll_round(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut all = true;
        for slot in self.iter_mut() {
            all &= slot.poll(cx);
        }
        settled(all)
    }

    fn take_items(&mut self) -> Option<Self::Items> {
        if self.iter().any(Slot::has_ended) {
            return None;
        }
        let mut items = self.iter_mut().map(Slot::take);
        // Every slot holds an item (checked above).
        Some(std::array::from_fn(|_| {
            items
                .next()
                .flatten()
                .expect("every stream yielded an item this round")
        }))
    }

    fn take_longest(&mut self) -> Option<Self::LongestItems> {
        if self.iter().all(Slot::has_ended) {
            return None;
        }
        let mut items = self.iter_mut().map(Slot::take);
        Some(std::array::from_fn(|_| items.next().flatten()))
    }
}

impl<S, T, E, const N: usize> TryZipStreams for [S; N]
where
    S: Stream<Item = Result<T, E>>,
{
    type Oks = [T; N];
    type Error = E;

    fn take_error(slots: &mut Self::Slots) -> Option<E> {
        slots.iter_mut().find_map(Slot::take_error)
    }

    fn into_oks(items: Self::Items) -> Result<[T; N], E> {
        let mut error = None;
        let oks = items.map(|item| match item {
            Ok(v) => Some(v),
            Err(e) => {
                error.get_or_insert(e);
                None
            }
        });
        match error {
            Some(e) => Err(e),
            None => Ok(oks.map(|v| v.expect("no error, so every item is Ok"))),
        }
    }
}

/// The round bookkeeping shared by the three zips.
struct Rounds<Z: ZipStreams> {
    /// `None` once the zip has ended (the streams are dropped then).
    slots: Option<Z::Slots>,
    /// The current round had to wait (so it was a checkpoint already).
    waited: bool,
}

impl<Z: ZipStreams> Rounds<Z> {
    fn new(streams: Z) -> Rounds<Z> {
        Rounds {
            slots: Some(streams.into_slots()),
            waited: false,
        }
    }

    /// Runs the current round until every stream settled (or, with `stop_early`, until it
    /// returns `true`), and yields once if the round never had to wait. Then gives the slots
    /// to `finish`, which returns the item, or `None` to end the zip.
    fn poll_with<R>(
        &mut self,
        cx: &mut Context<'_>,
        stop_early: impl FnOnce(&mut Z::Slots) -> Option<R>,
        finish: impl FnOnce(&mut Z::Slots) -> Option<R>,
    ) -> Poll<Option<R>> {
        let Some(slots) = self.slots.as_mut() else {
            return Poll::Ready(None);
        };
        let round = slots.poll_round(cx);
        if let Some(early) = stop_early(slots) {
            self.slots = None;
            return Poll::Ready(Some(early));
        }
        if round.is_pending() {
            self.waited = true;
            return Poll::Pending;
        }
        if !self.waited {
            // A round that never waited is still a checkpoint (Trio's nursery exit): a
            // cancellation point that spends the task's budget. `Pending` here either drops the
            // zip (a cancelled scope) or comes back with a fresh budget, the items kept.
            ready!(poll_checkpoint(cx));
        }
        self.waited = false;
        let out = finish(slots);
        if out.is_none() {
            self.slots = None;
        }
        Poll::Ready(out)
    }
}

/// Zips streams: each round waits for one item from **every** stream, polling them
/// concurrently, and yields them together. trio-util's `azip(*aiterables)`.
///
/// `streams` is a tuple of up to 8 streams (of any item types), a `Vec`, or an array (see
/// [`ZipStreams`]); the items come as a tuple, `Vec` or array to match.
///
/// - A round lasts as long as its slowest stream: three streams yielding once a second give
///   three tuples in three seconds, not nine.
/// - When a stream ends, the zip ends at the end of that round (once every other stream has
///   settled), and the items the others produced in that round are dropped. The streams are
///   dropped when the zip ends.
/// - `azip(())`, with no streams, yields `()` forever (like trio-util, unlike `zip()`).
/// - Items are plain values: an `Err` item is zipped like any other. For trio-util's
///   behaviour when an `__anext__` raises (the round's siblings are cancelled and the error
///   ends the zip), use [`try_azip`].
///
/// # Examples
///
/// ```
/// use futures_lite::{stream, StreamExt};
/// use trellis::util::azip;
///
/// trellis::run(async {
///     let names = stream::iter(["a", "b", "c"]);
///     let numbers = stream::iter([1, 2]);
///     let pairs: Vec<_> = azip((names, numbers)).collect().await;
///     assert_eq!(pairs, [("a", 1), ("b", 2)]);
///
///     let columns = vec![stream::iter([1, 2]), stream::iter([10, 20])];
///     let rows: Vec<_> = azip(columns).collect().await;
///     assert_eq!(rows, [vec![1, 10], vec![2, 20]]);
/// });
/// ```
///
/// # Cancellation
///
/// Every round is a checkpoint. Dropping a pending `next()` loses nothing: the items already
/// received in the round are kept, and the next poll goes on with the same round.
pub fn azip<Z: ZipStreams>(streams: Z) -> Azip<Z> {
    Azip {
        rounds: Rounds::new(streams),
    }
}

/// The stream returned by [`azip`].
///
/// # Examples
///
/// ```
/// use futures_lite::{stream, StreamExt};
///
/// trellis::run(async {
///     let mut z: trellis::util::Azip<_> = trellis::util::azip([stream::iter([1]), stream::iter([2])]);
///     assert_eq!(z.next().await, Some([1, 2]));
///     assert_eq!(z.next().await, None);
/// });
/// ```
///
/// # Cancellation
///
/// See [`azip`].
#[must_use = "streams do nothing unless polled"]
pub struct Azip<Z: ZipStreams> {
    rounds: Rounds<Z>,
}

impl<Z: ZipStreams> Stream for Azip<Z> {
    type Item = Z::Items;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Z::Items>> {
        // Pinning is not structural: the streams are boxed in their slots.
        self.get_mut()
            .rounds
            .poll_with(cx, |_| None, Slots::take_items)
    }
}

impl<Z: ZipStreams> FusedStream for Azip<Z> {
    fn is_terminated(&self) -> bool {
        self.rounds.slots.is_none()
    }
}

impl<Z: ZipStreams> fmt::Debug for Azip<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Azip")
            .field("terminated", &self.rounds.slots.is_none())
            .finish_non_exhaustive()
    }
}

/// Zips streams until **all** have ended: each round polls every stream that has not ended,
/// concurrently, and yields `Some(item)` for each of them and `None` for the ended ones.
/// trio-util's `azip_longest(*aiterables, fillvalue=None)`.
///
/// The fill value is `None`: map it (`unwrap_or`) for another one. The zip ends after the
/// round in which the last stream ended. `azip_longest(())` yields nothing.
///
/// trio-util re-polls an exhausted iterator every round and relies on it raising
/// `StopAsyncIteration` again; a Rust stream may misbehave when polled after its end, so an
/// ended stream is never polled again (and is dropped): it counts as ended from then on. A
/// trio-util iterator that resumed after its end would be zipped again; here it cannot.
///
/// # Examples
///
/// ```
/// use futures_lite::{stream, StreamExt};
/// use trellis::util::azip_longest;
///
/// trellis::run(async {
///     let z = azip_longest((stream::iter([1, 2, 3]), stream::iter(['a'])));
///     let rows: Vec<_> = z.collect().await;
///     assert_eq!(rows, [(Some(1), Some('a')), (Some(2), None), (Some(3), None)]);
/// });
/// ```
///
/// # Cancellation
///
/// As [`azip`].
pub fn azip_longest<Z: ZipStreams>(streams: Z) -> AzipLongest<Z> {
    AzipLongest {
        rounds: Rounds::new(streams),
    }
}

/// The stream returned by [`azip_longest`].
///
/// # Examples
///
/// ```
/// use futures_lite::{stream, StreamExt};
///
/// trellis::run(async {
///     let mut z: trellis::util::AzipLongest<_> =
///         trellis::util::azip_longest(vec![stream::iter(vec![1]), stream::iter(vec![])]);
///     assert_eq!(z.next().await, Some(vec![Some(1), None]));
///     assert_eq!(z.next().await, None);
/// });
/// ```
///
/// # Cancellation
///
/// See [`azip`].
#[must_use = "streams do nothing unless polled"]
pub struct AzipLongest<Z: ZipStreams> {
    rounds: Rounds<Z>,
}

impl<Z: ZipStreams> Stream for AzipLongest<Z> {
    type Item = Z::LongestItems;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Z::LongestItems>> {
        // Pinning is not structural: the streams are boxed in their slots.
        self.get_mut()
            .rounds
            .poll_with(cx, |_| None, Slots::take_longest)
    }
}

impl<Z: ZipStreams> FusedStream for AzipLongest<Z> {
    fn is_terminated(&self) -> bool {
        self.rounds.slots.is_none()
    }
}

impl<Z: ZipStreams> fmt::Debug for AzipLongest<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzipLongest")
            .field("terminated", &self.rounds.slots.is_none())
            .finish_non_exhaustive()
    }
}

/// Zips streams of `Result`s, stopping at the first error: the Rust form of trio-util's
/// `azip` when an `__anext__` raises.
///
/// Rounds run as in [`azip`] and yield `Ok(items)` (the `Ok` values, as a tuple, `Vec` or
/// array). When any stream yields `Err(e)`, the round stops at once (the other streams are
/// not polled again; trio-util cancels their pending `__anext__`), every stream is dropped,
/// `Err(e)` is yielded, and the zip ends. If several streams fail in the same wake-up, the
/// first in argument order wins and the other errors are dropped (a single `E` has no room
/// for Trio's exception group). When a stream ends, the zip ends as in `azip`.
///
/// # Errors
///
/// The item `Err(e)`, last, with the first error any stream yielded.
///
/// # Examples
///
/// ```
/// use futures_lite::{stream, StreamExt};
/// use trellis::util::try_azip;
///
/// trellis::run(async {
///     let good = stream::iter([Ok(1), Ok(2), Ok(3)]);
///     let flaky = stream::iter([Ok('a'), Err("lost"), Ok('c')]);
///     let rows: Vec<_> = try_azip((good, flaky)).collect().await;
///     assert_eq!(rows, [Ok((1, 'a')), Err("lost")]);
/// });
/// ```
///
/// # Cancellation
///
/// As [`azip`].
pub fn try_azip<Z: TryZipStreams>(streams: Z) -> TryAzip<Z> {
    TryAzip {
        rounds: Rounds::new(streams),
    }
}

/// The stream returned by [`try_azip`].
///
/// # Examples
///
/// ```
/// use futures_lite::{stream, StreamExt};
///
/// trellis::run(async {
///     let s = stream::iter([Ok::<u8, String>(1)]);
///     let mut z: trellis::util::TryAzip<_> = trellis::util::try_azip((s,));
///     assert_eq!(z.next().await, Some(Ok((1,))));
///     assert_eq!(z.next().await, None);
/// });
/// ```
///
/// # Cancellation
///
/// See [`azip`].
#[must_use = "streams do nothing unless polled"]
pub struct TryAzip<Z: TryZipStreams> {
    rounds: Rounds<Z>,
}

impl<Z: TryZipStreams> Stream for TryAzip<Z> {
    type Item = Result<Z::Oks, Z::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Pinning is not structural: the streams are boxed in their slots.
        self.get_mut().rounds.poll_with(
            cx,
            |slots| Z::take_error(slots).map(Err),
            |slots| slots.take_items().map(Z::into_oks),
        )
    }
}

impl<Z: TryZipStreams> FusedStream for TryAzip<Z> {
    fn is_terminated(&self) -> bool {
        self.rounds.slots.is_none()
    }
}

impl<Z: TryZipStreams> fmt::Debug for TryAzip<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryAzip")
            .field("terminated", &self.rounds.slots.is_none())
            .finish_non_exhaustive()
    }
}
