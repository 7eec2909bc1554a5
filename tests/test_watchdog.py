"""The server's watchdog: it sees a closed input without reading from it, and waits out a grace period."""

import os
import time

from vots_tracker.server.watchdog import ClientWatchdog, input_hung_up


def test_hang_up_is_seen_only_once_everything_was_read():
    read_end, write_end = os.pipe()
    try:
        assert not input_hung_up(read_end)  # open, nothing written
        os.write(write_end, b"@@TRAX:quit \n")
        os.close(write_end)
        write_end = None
        assert not input_hung_up(read_end)  # closed, but a message is still waiting for libtrax
        assert os.read(read_end, 100) == b"@@TRAX:quit \n"  # the check consumed nothing
        assert input_hung_up(read_end)
    finally:
        os.close(read_end)
        if write_end is not None:
            os.close(write_end)


def test_a_closed_input_ends_the_server_only_after_a_wait_outlasts_the_grace():
    read_end, write_end = os.pipe()
    os.close(write_end)
    watchdog = ClientWatchdog(input_fd=read_end, grace=0.2)
    try:
        assert watchdog.client_gone() is None  # not inside wait(): a reply may still be computed
        with watchdog.waiting():
            assert watchdog.client_gone() is None  # first sight starts the grace period
            time.sleep(0.3)
            assert "input was closed" in watchdog.client_gone()
        assert watchdog.client_gone() is None
    finally:
        os.close(read_end)


def test_a_changed_parent_means_the_client_is_gone():
    watchdog = ClientWatchdog(input_fd=None)
    assert watchdog.client_gone() is None
    watchdog.parent = -1  # as if the parent had died and we were re-parented
    assert "parent process" in watchdog.client_gone()
