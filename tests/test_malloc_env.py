"""GLIBC_TUNABLES reaches every tracker process: trackers.ini entries, rendered workspaces, `track`."""

from __future__ import annotations

import configparser
import os
import sys

import pytest

from vots_tracker.runtime import malloc_env
from vots_tracker.workspace.data_files import ROOT_TRACKERS_INI
from vots_tracker.workspace.trackers_ini import read_root_trackers, render_trackers_ini, smoke_entries


def test_every_root_entry_sets_the_tunables():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT_TRACKERS_INI, encoding="utf-8")
    assert parser.sections()
    for section in parser.sections():
        assert parser[section].get("env_GLIBC_TUNABLES") == malloc_env.MALLOC_TUNABLES, section


def test_rendered_workspace_entries_set_the_tunables_once():
    text = render_trackers_ini(read_root_trackers() + smoke_entries())
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)  # a duplicated key would raise here
    for section in parser.sections():
        assert parser[section]["env_GLIBC_TUNABLES"] == malloc_env.MALLOC_TUNABLES, section


def test_track_restarts_itself_with_the_tunables(monkeypatch):
    calls = []
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    malloc_env.restart_with_tunables(["track", "--video", "clip.mp4"])
    if not calls:
        pytest.skip("not a glibc system")
    path, argv, env = calls[0]
    assert path == sys.executable and argv[1:] == ["-m", "vots_tracker", "track", "--video", "clip.mp4"]
    assert env["GLIBC_TUNABLES"] == malloc_env.MALLOC_TUNABLES

    calls.clear()
    monkeypatch.setenv("GLIBC_TUNABLES", "")  # the user's own value (even empty) is respected
    malloc_env.restart_with_tunables(["track"])
    assert not calls
