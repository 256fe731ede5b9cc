"""Where the dependency lane reads advisories: the OSV API when it answers, else an
offline OSV database given by path (a folder of OSV JSON/YAML records, or an OSV
ecosystem zip such as PyPI's all.zip).

The offline database is indexed once per content (package name -> records) into the
cache folder, so a task parses only the records of its own packages. Its date is the
newest `modified` among its records: advisories published later are not in it, and
every result computed from it says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx2
import yaml
from packaging.utils import canonicalize_name

from findings_app.parsers.osv import ECOSYSTEM, Advisory, parse_record

log = logging.getLogger(__name__)

INDEX_VERSION = "1"
MAX_RECORD = 5_000_000
BATCH = 500
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SourceError(RuntimeError):
    """No advisories could be read; the message says why in a sentence."""


Query = tuple[str, str | None]  # (package, version or None for any version)


class AdvisorySource:
    """Advisories per (package, version) query; `describe` says where they came from.
    The lists may hold advisories that do not affect the version: callers check."""

    def advisories(self, queries: Iterable[Query]) -> dict[Query, list[Advisory]]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError


def _parse(data: Any, origin: str) -> Advisory | None:
    try:
        return parse_record(data)
    except ValueError as exc:
        log.warning("OSV record %s skipped: %s", origin, exc)
        return None


class OfflineDatabase(AdvisorySource):
    def __init__(self, path: Path, cache_dir: Path):
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(f"the offline OSV database {self.path} does not exist")
        self.is_zip = self.path.is_file()
        if self.is_zip and not zipfile.is_zipfile(self.path):
            raise SourceError(f"{self.path} is neither a folder of OSV records nor a zip of them")
        self.cache_dir = Path(cache_dir)
        self._index: dict[str, Any] | None = None

    # -- records

    def _members(self) -> list[str]:
        if self.is_zip:
            with zipfile.ZipFile(self.path) as zf:
                return sorted(n for n in zf.namelist() if n.endswith((".json", ".yaml", ".yml")))
        found = []
        for dirpath, dirnames, filenames in os.walk(self.path):  # links are not followed
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if name.endswith((".json", ".yaml", ".yml")):
                    found.append(os.path.relpath(os.path.join(dirpath, name), self.path))
        return sorted(found)

    def _read(self, member: str, zf: zipfile.ZipFile | None = None) -> Any:
        if zf is not None:
            info = zf.getinfo(member)
            if info.file_size > MAX_RECORD:
                raise ValueError("record too large")
            raw = zf.read(member)
        else:
            file = self.path / member
            if file.is_symlink() or file.stat().st_size > MAX_RECORD:
                raise ValueError("a link or a record too large")
            raw = file.read_bytes()
        if member.endswith(".json"):
            return json.loads(raw)
        return yaml.load(raw, Loader=_LOADER)  # noqa: S506 - the C SafeLoader

    def _signature(self, members: list[str]) -> str:
        h = hashlib.sha256(f"{INDEX_VERSION}|{self.path.resolve()}".encode())
        if self.is_zip:
            st = self.path.stat()
            h.update(f"{st.st_size}|{st.st_mtime_ns}".encode())
        else:
            for member in members:
                st = (self.path / member).lstat()
                h.update(f"{member}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        return h.hexdigest()[:24]

    def index(self) -> dict[str, Any]:
        """{"packages": {name: [member...]}, "modified": newest, "records": n}."""
        if self._index is not None:
            return self._index
        members = self._members()
        if not members:
            raise SourceError(f"the offline OSV database {self.path} holds no OSV records")
        cache = self.cache_dir / "osv-index" / f"{self._signature(members)}.json"
        try:
            self._index = json.loads(cache.read_text())
            return self._index
        except (OSError, ValueError):
            pass
        packages: dict[str, list[str]] = {}
        newest, count, skipped = "", 0, 0
        zf = zipfile.ZipFile(self.path) if self.is_zip else None
        try:
            for member in members:
                try:
                    data = self._read(member, zf)
                except (OSError, ValueError, yaml.YAMLError):
                    skipped += 1
                    continue
                if not isinstance(data, dict):
                    skipped += 1
                    continue
                count += 1
                newest = max(newest, str(data.get("modified") or ""))
                for aff in data.get("affected") or []:
                    pkg = (aff or {}).get("package") or {}
                    if (
                        isinstance(pkg, dict)
                        and pkg.get("ecosystem") == ECOSYSTEM
                        and pkg.get("name")
                    ):
                        entry = packages.setdefault(canonicalize_name(str(pkg["name"])), [])
                        if member not in entry:
                            entry.append(member)
        finally:
            if zf is not None:
                zf.close()
        self._index = {"packages": packages, "modified": newest, "records": count,
                       "skipped": skipped}  # fmt: skip
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._index))
        tmp.replace(cache)
        return self._index

    def advisories(self, queries: Iterable[Query]) -> dict[Query, list[Advisory]]:
        index = self.index()["packages"]
        queries = list(queries)
        by_name: dict[str, list[Advisory]] = {}
        zf = zipfile.ZipFile(self.path) if self.is_zip else None
        try:
            for package in sorted({canonicalize_name(name) for name, _ in queries}):
                found = []
                for member in index.get(package, []):
                    try:
                        adv = _parse(self._read(member, zf), member)
                    except (OSError, ValueError, yaml.YAMLError) as exc:
                        log.warning("OSV record %s unreadable: %s", member, exc)
                        continue
                    if adv is not None and package in adv.packages:
                        found.append(adv)
                by_name[package] = found
        finally:
            if zf is not None:
                zf.close()
        return {q: by_name[canonicalize_name(q[0])] for q in queries}

    def describe(self) -> dict[str, Any]:
        index = self.index()
        return {
            "source": "offline",
            "database": str(self.path),
            "records": index["records"],
            "snapshot": (index["modified"] or "")[:10] or None,
            # the database's own name and licence, for the credit its licence may ask for
            "title": _first_line(self.path / "README.md", heading=True),
            "license": _first_line(self.path / "LICENSE"),
        }


def _first_line(path: Path, heading: bool = False) -> str | None:
    try:
        if path.is_symlink() or not path.is_file():
            return None
        for line in path.read_text(errors="replace").splitlines()[:20]:
            line = line.strip()
            if line and (not heading or line.startswith("#")):
                return line.lstrip("# ").strip()[:120] or None
    except OSError:
        return None
    return None


class OsvApi(AdvisorySource):
    """api.osv.dev's v1 API: /v1/querybatch for the ids, /v1/vulns/{id} for each record."""

    def __init__(self, base_url: str, timeout_s: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.http = httpx2.Client(timeout=timeout_s, follow_redirects=False)
        self.records: dict[str, Advisory | None] = {}

    def _post(self, path: str, body: dict) -> Any:
        try:
            resp = self.http.post(self.base_url + path, json=body)
        except httpx2.HTTPError as exc:
            raise SourceError(
                f"the OSV API at {self.base_url} could not be reached ({type(exc).__name__}: {exc})"
            ) from exc
        return self._json(resp, path)

    def _get(self, path: str) -> Any:
        try:
            resp = self.http.get(self.base_url + path)
        except httpx2.HTTPError as exc:
            raise SourceError(
                f"the OSV API at {self.base_url} could not be reached ({type(exc).__name__}: {exc})"
            ) from exc
        return self._json(resp, path)

    def _json(self, resp: httpx2.Response, path: str) -> Any:
        if resp.status_code != 200:
            raise SourceError(f"the OSV API answered {resp.status_code} to {path}")
        try:
            return resp.json()
        except ValueError as exc:
            raise SourceError(f"the OSV API's answer to {path} is not JSON") from exc

    def vulnerable_ids(self, queries: list[dict[str, Any]]) -> list[list[str]]:
        """For each query ({"name", "version"?}), the ids of the advisories it matches."""
        out: list[list[str]] = []
        for start in range(0, len(queries), BATCH):
            chunk = queries[start : start + BATCH]
            pending = [
                {"package": {"name": q["name"], "ecosystem": ECOSYSTEM},
                 **({"version": q["version"]} if q.get("version") else {})}
                for q in chunk
            ]  # fmt: skip
            ids: list[list[str]] = [[] for _ in chunk]
            todo = list(range(len(chunk)))
            for _ in range(20):  # pages
                data = self._post("/v1/querybatch", {"queries": [pending[i] for i in todo]})
                results = data.get("results") if isinstance(data, dict) else None
                if not isinstance(results, list) or len(results) != len(todo):
                    raise SourceError("the OSV API's querybatch answer does not match the queries")
                again = []
                for i, result in zip(todo, results, strict=True):
                    for vuln in (result or {}).get("vulns") or []:
                        if isinstance(vuln, dict) and isinstance(vuln.get("id"), str):
                            ids[i].append(vuln["id"])
                    token = (result or {}).get("next_page_token")
                    if token:
                        pending[i] = {**pending[i], "page_token": token}
                        again.append(i)
                todo = again
                if not todo:
                    break
            out += ids
        return out

    def record(self, vuln_id: str) -> Advisory | None:
        if vuln_id not in self.records:
            self.records[vuln_id] = _parse(self._get(f"/v1/vulns/{vuln_id}"), vuln_id)
        return self.records[vuln_id]

    def advisories(self, queries: Iterable[Query]) -> dict[Query, list[Advisory]]:
        queries = list(dict.fromkeys(queries))
        answers = self.vulnerable_ids([{"name": n, "version": v} for n, v in queries])
        out: dict[Query, list[Advisory]] = {}
        for (name, version), ids in zip(queries, answers, strict=True):
            found = [adv for i in dict.fromkeys(ids) if (adv := self.record(i)) is not None]
            out[(name, version)] = [a for a in found if canonicalize_name(name) in a.packages]
        return out

    def describe(self) -> dict[str, Any]:
        return {"source": "api", "url": self.base_url}


def open_source(
    api_url: str, database: str, cache_dir: Path, timeout_s: float
) -> tuple[AdvisorySource, list[str]]:
    """The API when configured and answering, else the offline database; notes say why a
    fallback happened. SourceError when neither is available."""
    notes: list[str] = []
    if api_url and api_url.lower() != "off":
        api = OsvApi(api_url, timeout_s)
        try:
            api.vulnerable_ids([{"name": "pip", "version": "0"}])  # does it answer?
            return api, notes
        except SourceError as exc:
            notes.append(str(exc))
    if database:
        try:
            db = OfflineDatabase(Path(database), cache_dir)
            db.index()
            if notes:
                notes.append(f"used the offline OSV database {database} instead")
            return db, notes
        except SourceError as exc:
            notes.append(str(exc))
    else:
        notes.append("no offline OSV database is configured (TFACTORY_OSV_DB)")
    raise SourceError("; ".join(notes) or "no advisory source is configured")
