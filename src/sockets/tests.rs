//! Socket state: hold-back and release, fallbacks, generations, gaps, bounds, and
//! independence from when time is advanced.

use proptest::prelude::*;

use super::*;
use crate::bytes::Bytes;
use crate::event::{Syscall, Task};

const S: Nanos = 1_000_000_000;

fn task(pid: u32) -> Task {
    Task {
        pid,
        tid: pid,
        comm: "srv".into(),
        cgroup: 0,
    }
}

fn accept(ts: Nanos, fd: i32, kernel: bool) -> Event {
    Event::Accept(Accept {
        ts,
        task: task(1),
        fd,
        peer: Some("10.0.0.2:5000".parse().unwrap()),
        sock: kernel.then(|| SockAddrs {
            local: Some("10.0.0.1:80".parse().unwrap()),
            peer: Some("10.0.0.2:5000".parse().unwrap()),
        }),
    })
}

fn getsockname(ts: Nanos, fd: i32) -> Event {
    Event::Getsockname(Getsockname {
        ts,
        task: task(1),
        fd,
        local: "10.0.0.1:80".parse().unwrap(),
    })
}

fn data(ts: Nanos, fd: i32, pos: u64, payload: &[u8]) -> Event {
    Event::Data(Data {
        ts,
        task: task(1),
        fd,
        syscall: Syscall::Read,
        pos,
        count: payload.len() as u64,
        payload: Bytes(payload.to_vec()),
        truncated: false,
    })
}

fn close(ts: Nanos, fd: i32) -> Event {
    Event::Close(Close {
        ts,
        task: task(1),
        fd,
    })
}

fn run(sockets: &mut Sockets, events: &[Event]) -> Vec<Released> {
    let mut out = Vec::new();
    for e in events {
        sockets.handle(e.clone(), None, &mut out);
    }
    out
}

#[test]
fn an_outgoing_connection_with_no_local_address_takes_the_container_ip() {
    let connect = Event::Connect(Connect {
        ts: S,
        task: task(1),
        fd: 4,
        peer: Some("10.0.0.9:80".parse().unwrap()),
        result: 0,
        sock: None,
    });
    let mut sockets = Sockets::new(Limits::default());
    let mut out = Vec::new();
    sockets.handle(connect, "172.18.0.5".parse().ok(), &mut out);
    sockets.handle(data(2 * S, 4, 0, b"GET / HTTP/1.1\r\n\r\n"), None, &mut out);
    sockets.finish(&mut out);
    let Some(Released::Open(info)) = out.first() else {
        panic!("opened first: {out:?}");
    };
    assert_eq!(info.local.ip, "172.18.0.5".parse().ok());
    assert_eq!(info.local.port, None);
    assert_eq!(info.local.source, Some(AddressSource::Container));
    assert_eq!(info.peer.source, Some(AddressSource::Connect));
}

fn payloads(out: &[Released]) -> Vec<Vec<u8>> {
    out.iter()
        .filter_map(|r| match r {
            Released::Data { payload, .. } => Some(payload.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn data_waits_for_getsockname_then_goes_in_order() {
    let mut sockets = Sockets::new(Limits::default());
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            data(2, 5, 0, b"ab"),
            data(3, 5, 2, b"cd"),
        ],
    );
    assert!(out.is_empty(), "held until the local address is known");
    assert_eq!(sockets.gauge().held_bytes, 4);
    let out = run(&mut sockets, &[getsockname(4, 5)]);
    let Released::Open(info) = &out[0] else {
        panic!("Open comes first: {out:?}")
    };
    assert_eq!(info.local.source, Some(AddressSource::Getsockname));
    assert_eq!(info.peer.source, Some(AddressSource::Accept));
    assert_eq!(payloads(&out), vec![b"ab".to_vec(), b"cd".to_vec()]);
    assert_eq!(sockets.gauge().held_bytes, 0);
}

#[test]
fn a_complete_kernel_view_waits_only_the_short_hold() {
    let limits = Limits::default();
    assert!(limits.hold_complete_for < limits.hold_for);
    let mut sockets = Sockets::new(limits);
    let mut out = run(&mut sockets, &[accept(1, 5, true), data(2, 5, 0, b"ab")]);
    sockets.advance_time(2 + limits.hold_complete_for - 1, &mut out);
    assert!(out.is_empty(), "a getsockname may still come: {out:?}");
    sockets.advance_time(2 + limits.hold_complete_for, &mut out);
    let Released::Open(info) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(info.local.source, Some(AddressSource::Kernel));
    assert_eq!(info.local.port, Some(80));
}

#[test]
fn an_incomplete_view_waits_the_full_hold() {
    let limits = Limits::default();
    let mut sockets = Sockets::new(limits);
    let mut out = run(&mut sockets, &[accept(1, 5, false), data(2, 5, 0, b"ab")]);
    sockets.advance_time(2 + limits.hold_for - 1, &mut out);
    assert!(out.is_empty(), "only getsockname can give the local end");
    sockets.advance_time(2 + limits.hold_for, &mut out);
    assert!(matches!(out.first(), Some(Released::Open(_))), "{out:?}");
}

#[test]
fn an_outgoing_connection_with_a_container_ip_waits_the_short_hold() {
    let limits = Limits::default();
    let connect = Event::Connect(Connect {
        ts: 1,
        task: task(1),
        fd: 4,
        peer: Some("10.0.0.9:80".parse().unwrap()),
        result: -115,
        sock: None,
    });
    let mut sockets = Sockets::new(limits);
    let mut out = Vec::new();
    sockets.handle(connect, Some("10.0.0.3".parse().unwrap()), &mut out);
    sockets.handle(data(2, 4, 0, b"GET"), None, &mut out);
    sockets.advance_time(2 + limits.hold_complete_for, &mut out);
    let Released::Open(info) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(info.local.source, Some(AddressSource::Container));
}

#[test]
fn only_kernel_events_advance_time() {
    let mut sockets = Sockets::new(Limits::default());
    let late = 100 * S;
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, false),
            data(2, 5, 0, b"ab"),
            Event::Loss { ts: late, lost: 0 },
            Event::Clock {
                ts: late,
                realtime_ns: late,
            },
            Event::Overflow {
                ts: late,
                budget: "held".into(),
                events: 1,
                bytes: 1,
            },
        ],
    );
    assert!(out.is_empty(), "userspace time released data: {out:?}");
    let out = run(&mut sockets, &[getsockname(3, 5)]);
    let Released::Open(info) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(info.local.source, Some(AddressSource::Getsockname));
}

#[test]
fn close_releases_and_nothing_known_stays_null() {
    let mut sockets = Sockets::new(Limits::default());
    let out = run(
        &mut sockets,
        &[accept(1, 5, false), data(2, 5, 0, b"x"), close(3, 5)],
    );
    let Released::Open(info) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(info.local, Address::default());
    assert!(matches!(
        out.last(),
        Some(Released::End {
            reason: EndReason::Closed,
            ..
        })
    ));
}

#[test]
fn a_reused_fd_is_a_new_generation() {
    let mut sockets = Sockets::new(Limits::default());
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            getsockname(2, 5),
            data(3, 5, 0, b"old"),
            accept(4, 5, true),
            getsockname(5, 5),
            data(6, 5, 0, b"new"),
        ],
    );
    let ids: Vec<_> = out
        .iter()
        .filter_map(|r| match r {
            Released::Data { id, .. } => Some(id.generation),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![1, 2]);
    assert!(out.iter().any(
        |r| matches!(r, Released::End { reason: EndReason::Replaced, id, .. } if id.generation == 1)
    ));
    assert!(
        !out.iter().any(|r| matches!(r, Released::Gap { .. })),
        "positions restart per generation"
    );
}

#[test]
fn a_position_jump_is_a_gap_once_the_window_gives_up() {
    let mut sockets = Sockets::new(Limits::default());
    let mut out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            getsockname(2, 5),
            data(3, 5, 0, b"ab"),
            data(4, 5, 10, b"cd"),
        ],
    );
    // The missing bytes may still be on their way from another thread.
    assert!(!out.iter().any(|r| matches!(r, Released::Gap { .. })));
    sockets.advance_time(4 + REORDER_MAX_WAIT - 1, &mut out);
    assert!(!out.iter().any(|r| matches!(r, Released::Gap { .. })));
    sockets.advance_time(4 + REORDER_MAX_WAIT, &mut out);
    assert!(out
        .iter()
        .any(|r| matches!(r, Released::Gap { lost: Some(8), .. })));
    assert_eq!(
        directed(&out),
        vec![
            (Direction::Recv, b"ab".to_vec()),
            (Direction::Recv, b"cd".to_vec())
        ]
    );
    assert_eq!(sockets.reorder_stats().gaps, 1);
}

fn directed(out: &[Released]) -> Vec<(Direction, Vec<u8>)> {
    out.iter()
        .filter_map(|r| match r {
            Released::Data {
                direction, payload, ..
            } => Some((*direction, payload.clone())),
            _ => None,
        })
        .collect()
}

fn send(ts: Nanos, fd: i32, pos: u64, payload: &[u8]) -> Event {
    let Event::Data(mut d) = data(ts, fd, pos, payload) else {
        unreachable!()
    };
    d.syscall = Syscall::Write;
    Event::Data(d)
}

#[test]
fn records_out_of_position_order_are_put_back_in_order() {
    let mut sockets = Sockets::new(Limits::default());
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            getsockname(2, 5),
            send(3, 5, 0, b"one "),
            // A second thread's write, delivered before the first's.
            send(4, 5, 8, b"three"),
            send(5, 5, 4, b"two "),
            send(6, 5, 13, b"!"),
        ],
    );
    assert!(!out.iter().any(|r| matches!(r, Released::Gap { .. })));
    let sent: Vec<u8> = directed(&out).into_iter().flat_map(|(_, p)| p).collect();
    assert_eq!(sent, b"one two three!");
    assert_eq!(sockets.reorder_stats().reordered, 1);
}

#[test]
fn the_other_direction_waits_behind_a_record_out_of_order() {
    // HTTP pairs by time order: a read that came after the early write must not
    // overtake it.
    let mut sockets = Sockets::new(Limits::default());
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            getsockname(2, 5),
            send(3, 5, 4, b"late"),
            data(4, 5, 0, b"read"),
            send(5, 5, 0, b"wri "),
        ],
    );
    assert_eq!(
        directed(&out),
        vec![
            (Direction::Send, b"wri ".to_vec()),
            (Direction::Send, b"late".to_vec()),
            (Direction::Recv, b"read".to_vec()),
        ]
    );
}

#[test]
fn the_window_gives_up_past_its_bytes_and_drops_what_comes_late() {
    let mut sockets = Sockets::new(Limits::default());
    let big = vec![b'x'; 64 << 10];
    let mut events = vec![accept(1, 5, true), getsockname(2, 5), data(3, 5, 0, b"ab")];
    // Position 2..10 never comes in time; 64 KiB records pass the window.
    let records = (REORDER_MAX_BYTES / big.len() + 1) as u64;
    for i in 0..records {
        events.push(data(4 + i, 5, 10 + i * (64 << 10), &big));
    }
    events.push(data(4 + records, 5, 2, b"12345678"));
    let out = run(&mut sockets, &events);
    let gaps: Vec<_> = out
        .iter()
        .filter_map(|r| match r {
            Released::Gap { lost, .. } => Some(*lost),
            _ => None,
        })
        .collect();
    assert_eq!(gaps, vec![Some(8)]);
    // Past the budget the first waiting record went, and the rest followed it.
    assert_eq!(directed(&out).len() as u64, records + 1);
    let stats = sockets.reorder_stats();
    assert_eq!((stats.late_records, stats.late_bytes), (1, 8));
}

#[test]
fn positions_going_back_are_a_gap_of_unknown_size() {
    let mut sockets = Sockets::new(Limits::default());
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            getsockname(2, 5),
            data(3, 5, 0, b"ab"),
            data(4, 5, 2, b"cd"),
            // Not bytes declared lost: the kernel's state for the fd started anew.
            data(5, 5, 0, b"ef"),
        ],
    );
    assert!(out
        .iter()
        .any(|r| matches!(r, Released::Gap { lost: None, .. })));
    assert_eq!(directed(&out).len(), 3);
}

#[test]
fn held_bytes_are_capped_oldest_first() {
    let limits = Limits {
        max_held_bytes: 10,
        ..Limits::default()
    };
    let mut sockets = Sockets::new(limits);
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            accept(2, 6, true),
            data(3, 5, 0, b"123456"),
            data(4, 6, 0, b"123456"),
        ],
    );
    let opened: Vec<_> = out
        .iter()
        .filter_map(|r| match r {
            Released::Open(i) => Some(i.id.fd),
            _ => None,
        })
        .collect();
    assert_eq!(opened, vec![5]);
    assert_eq!(sockets.gauge().held_bytes, 6);
}

#[test]
fn over_the_byte_cap_the_longest_held_goes_first_among_many() {
    // Far more sockets than the cap lets hold; keys in the opposite order of
    // their first held data, so no order but held_since gives the right answer.
    let n = 2_000;
    let limits = Limits {
        max_held_bytes: 100 * 4,
        ..Limits::default()
    };
    let mut sockets = Sockets::new(limits);
    let mut events = Vec::new();
    for i in 0..n {
        events.push(accept(1 + i as u64, 10 + i, false));
    }
    for i in 0..n {
        let fd = 10 + (n - 1 - i);
        events.push(data(10_000 + i as u64, fd, 0, b"abcd"));
    }
    let out = run(&mut sockets, &events);
    let opened: Vec<i32> = out
        .iter()
        .filter_map(|r| match r {
            Released::Open(i) => Some(i.id.fd),
            _ => None,
        })
        .collect();
    let expected: Vec<i32> = (0..n - 100).map(|i| 10 + (n - 1 - i)).collect();
    assert_eq!(opened, expected);
    let g = sockets.gauge();
    assert_eq!((g.holding_sockets, g.held_bytes), (100, 400));
}

#[test]
fn eviction_takes_the_least_recently_active() {
    let limits = Limits {
        max_sockets: 2,
        ..Limits::default()
    };
    let mut sockets = Sockets::new(limits);
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            getsockname(2, 5),
            accept(3, 6, true),
            getsockname(4, 6),
            data(5, 6, 0, b"x"),
            data(6, 5, 0, b"y"),
            // 6 was active last before 5: it goes.
            accept(7, 7, true),
        ],
    );
    let ended: Vec<_> = out
        .iter()
        .filter_map(|r| match r {
            Released::End { id, reason, .. } => Some((id.fd, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(ended, vec![(6, EndReason::Evicted)]);
}

fn opened(out: &[Released]) -> Vec<SocketInfo> {
    out.iter()
        .filter_map(|r| match r {
            Released::Open(i) => Some(i.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_idle_connection_keeps_its_addresses_and_role() {
    let limits = Limits {
        idle_after: 10 * S,
        ..Limits::default()
    };
    let mut sockets = Sockets::new(limits);
    let mut out = run(
        &mut sockets,
        &[accept(1, 5, true), getsockname(2, 5), data(3, 5, 0, b"one")],
    );
    sockets.advance_time(3 + 11 * S, &mut out);
    assert_eq!(sockets.gauge().sockets, 0);
    let later = run(&mut sockets, &[data(12 * S, 5, 3, b"two")]);
    let (before, after) = (opened(&out), opened(&later));
    assert_eq!(after.len(), 1, "released at once: {later:?}");
    assert_eq!(after[0].role, Some(Observer::Server));
    assert_eq!(after[0].local, before[0].local);
    assert_eq!(after[0].peer, before[0].peer);
    assert!(after[0].id.generation > before[0].id.generation);
    assert_eq!(payloads(&later), vec![b"two".to_vec()]);
    assert_eq!(sockets.tombstones_dropped(), 0);
}

#[test]
fn an_evicted_connection_keeps_its_addresses_and_a_close_forgets_them() {
    let limits = Limits {
        max_sockets: 1,
        ..Limits::default()
    };
    let mut sockets = Sockets::new(limits);
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            data(2, 5, 0, b"a"),
            accept(3, 6, true),
            data(4, 5, 1, b"b"),
        ],
    );
    let infos = opened(&out);
    let resumed = infos.last().expect("opened");
    assert_eq!(resumed.id.fd, 5);
    assert_eq!(resumed.role, Some(Observer::Server));
    assert_eq!(resumed.local.port, Some(80));
    // Evicting 5 again, then closing it: nothing is kept for its fd.
    let out = run(
        &mut sockets,
        &[accept(5, 6, true), close(6, 5), data(7, 5, 0, b"c")],
    );
    let last = opened(&out).pop().expect("opened");
    assert_eq!((last.id.fd, last.role), (5, None));
}

#[test]
fn tombstones_are_bounded_and_what_they_forget_is_counted() {
    let n = 50;
    let limits = Limits {
        idle_after: 10 * S,
        max_tombstones: 8,
        ..Limits::default()
    };
    let mut sockets = Sockets::new(limits);
    let mut events = Vec::new();
    for fd in 0..n {
        events.push(accept(1 + fd as u64, fd, true));
        events.push(data(100 + fd as u64, fd, 0, b"x"));
    }
    let mut out = run(&mut sockets, &events);
    sockets.advance_time(20 * S, &mut out);
    assert_eq!(sockets.tombstones_dropped(), (n - 8) as u64);
    let later: Vec<Event> = (0..n).map(|fd| data(21 * S, fd, 1, b"y")).collect();
    let infos = opened(&run(&mut sockets, &later));
    let kept: Vec<i32> = infos
        .iter()
        .filter(|i| i.role.is_some())
        .map(|i| i.id.fd)
        .collect();
    assert_eq!(kept, (n - 8..n).collect::<Vec<_>>(), "the newest are kept");
}

#[test]
fn idle_sockets_age_out_and_the_socket_count_is_bounded() {
    let limits = Limits {
        max_sockets: 2,
        idle_after: 10 * S,
        ..Limits::default()
    };
    let mut sockets = Sockets::new(limits);
    let out = run(
        &mut sockets,
        &[accept(1, 5, true), accept(2, 6, true), accept(3, 7, true)],
    );
    assert_eq!(sockets.gauge().sockets, 2);
    assert!(out.is_empty(), "a socket never opened ends silently");
    let mut out = run(&mut sockets, &[data(4, 7, 0, b"x")]);
    sockets.advance_time(4 + 11 * S, &mut out);
    assert_eq!(sockets.gauge().sockets, 0);
    assert!(out.iter().any(|r| matches!(
        r,
        Released::End {
            reason: EndReason::AgedOut,
            ..
        }
    )));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Calling advance_time between events, with a time no later event precedes,
    /// changes nothing.
    #[test]
    fn output_does_not_depend_on_when_time_is_advanced(
        gaps in proptest::collection::vec(0u64..(3 * S), 8),
        ticks in proptest::collection::vec(any::<bool>(), 8),
    ) {
        let mut ts = 0;
        let mut at = |i: usize| { ts += gaps[i] + 1; ts };
        let events = vec![
            accept(at(0), 5, true),
            data(at(1), 5, 0, b"GET / HTTP/1.1\r\n"),
            accept(at(2), 6, true),
            data(at(3), 6, 0, b"x"),
            getsockname(at(4), 5),
            data(at(5), 5, 16, b"\r\n"),
            close(at(6), 6),
            data(at(7), 5, 18, b"more"),
        ];
        let plain = {
            let mut s = Sockets::new(Limits::default());
            let mut out = run(&mut s, &events);
            s.finish(&mut out);
            out
        };
        let ticked = {
            let mut s = Sockets::new(Limits::default());
            let mut out = Vec::new();
            for (i, e) in events.iter().enumerate() {
                if ticks[i] {
                    s.advance_time(e.ts() - 1, &mut out);
                }
                s.handle(e.clone(), None, &mut out);
            }
            s.finish(&mut out);
            out
        };
        prop_assert_eq!(plain, ticked);
    }
}

#[test]
fn over_the_budget_of_all_windows_the_one_waiting_longest_gives_up() {
    // Each waiting record costs its payload and 64 bytes: two do not fit.
    let limits = Limits {
        max_ordering_bytes: 200,
        ..Limits::default()
    };
    let mut sockets = Sockets::new(limits);
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            getsockname(2, 5),
            accept(3, 6, true),
            getsockname(4, 6),
            data(5, 5, 10, &[b'a'; 50]),
            data(6, 6, 10, &[b'b'; 50]),
        ],
    );
    let gaps: Vec<_> = out
        .iter()
        .filter_map(|r| match r {
            Released::Gap { id, lost, .. } => Some((id.fd, *lost)),
            _ => None,
        })
        .collect();
    assert_eq!(gaps, vec![(5, Some(10))]);
    assert_eq!(directed(&out), vec![(Direction::Recv, vec![b'a'; 50])]);
    assert_eq!(sockets.reorder_stats().gaps, 1);
}

fn unplaced(ts: Nanos, fd: i32, pos: u64, len: u64, count: u64) -> Event {
    Event::Unplaced(Unplaced {
        ts,
        task: task(1),
        fd,
        syscall: Syscall::Write,
        pos,
        len,
        count,
    })
}

fn lost(out: &[Released]) -> Vec<Option<u64>> {
    out.iter()
        .filter_map(|r| match r {
            Released::Gap { lost, .. } => Some(*lost),
            _ => None,
        })
        .collect()
}

#[test]
fn an_unplaced_call_is_the_hole_the_placed_calls_beside_it_leave() {
    // Two writes overlapped in [4, 14): one (6 bytes) was placed at 8, the
    // other (4 bytes) could not be; its bytes are [4, 8), declared lost at once.
    let mut sockets = Sockets::new(Limits::default());
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            getsockname(2, 5),
            send(3, 5, 0, b"one "),
            send(4, 5, 8, b"three!"),
            unplaced(5, 5, 4, 10, 4),
        ],
    );
    assert_eq!(lost(&out), vec![Some(4)]);
    let sent: Vec<u8> = directed(&out).into_iter().flat_map(|(_, p)| p).collect();
    assert_eq!(sent, b"one three!");
    let stats = sockets.reorder_stats();
    assert_eq!((stats.unplaced_calls, stats.unplaced_bytes), (1, 4));
}

#[test]
fn an_unplaced_range_first_lets_placed_records_in_it_through() {
    // The unplaced call's notice comes before the placed call inside its range,
    // and before anything after it: the hole is declared when a record waits
    // behind it, not sooner, and a placed record at the position passes.
    let mut sockets = Sockets::new(Limits::default());
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            getsockname(2, 5),
            send(3, 5, 0, b"one "),
            unplaced(4, 5, 4, 10, 6),
            send(5, 5, 4, b"two "),
            send(6, 5, 14, b"end"),
        ],
    );
    assert_eq!(lost(&out), vec![Some(6)]);
    let sent: Vec<u8> = directed(&out).into_iter().flat_map(|(_, p)| p).collect();
    assert_eq!(sent, b"one two end");
}

#[test]
fn an_unplaced_range_at_the_end_is_declared_lost_at_close() {
    let mut sockets = Sockets::new(Limits::default());
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            getsockname(2, 5),
            send(3, 5, 0, b"one "),
            unplaced(4, 5, 4, 8, 8),
            close(5, 5),
        ],
    );
    assert_eq!(lost(&out), vec![Some(8)]);
    assert!(matches!(out.last(), Some(Released::End { .. })));
}

#[test]
fn a_placed_record_arriving_after_its_range_was_declared_lost_is_dropped() {
    let mut sockets = Sockets::new(Limits::default());
    let out = run(
        &mut sockets,
        &[
            accept(1, 5, true),
            getsockname(2, 5),
            send(3, 5, 0, b"one "),
            unplaced(4, 5, 4, 8, 4),
            send(5, 5, 12, b"end"),
            // Placed exactly, but after its bytes were given up on.
            send(6, 5, 8, b"late"),
        ],
    );
    assert_eq!(lost(&out), vec![Some(8)]);
    let sent: Vec<u8> = directed(&out).into_iter().flat_map(|(_, p)| p).collect();
    assert_eq!(sent, b"one end");
    assert_eq!(sockets.reorder_stats().late_records, 1);
}
