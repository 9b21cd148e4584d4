"""Digests of ``lrs_tso``'s products on one fixed simulation, for bit-identity checks.

A fixed simulation (3 segments of 40 integrations, 4 groups, seed 11) is run by
``strun lrs_tso`` serially or on ``--scheduler=local:2``; the SHA-256 of the numbers
of each product (x1dints spectra, drift tables, ``_whtlt.ecsv``, ``_tspec.ecsv``) is
recorded per column, not the file bytes, which carry dates.

``tests/test_bit_identical.py`` compares a fresh run with the digests stored in
``tests/data/bit_identical_digests.json``. A change that alters the products on
purpose (new science) regenerates them with::

    python tests/bit_identical.py --update            # serial run, writes the JSON
    python tests/bit_identical.py --scheduler local:2  # prints what differs, if any
"""

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = "bitid"
DIGESTS = Path(__file__).resolve().parent / "data" / "bit_identical_digests.json"
SIMULATION = dict(nints=120, ngroups=4, segment_size=40, seed=11, root=ROOT)


def simulate(directory):
    """Simulate the fixed exposure in ``directory``; return its association's path."""
    from jwst.associations.asn_from_list import asn_from_list
    from jwst.associations.lib.rules_level3_base import DMS_Level3_Base

    from jwst_tso_ext.simulate import SimulationConfig, simulate_exposure

    directory = Path(directory)
    paths = simulate_exposure(SimulationConfig(**SIMULATION), directory)
    uncal = sorted(p.name for p in paths if p.name.endswith("_uncal.fits"))
    assert len(uncal) == 3, uncal
    asn = asn_from_list(uncal, rule=DMS_Level3_Base, product_name=ROOT)
    path = directory / f"{ROOT}_asn.json"
    path.write_text(asn.dump(format="json")[1])
    return path


def run_lrs_tso(asn, out, scheduler=None):
    """Run ``strun lrs_tso`` on ``asn`` into ``out`` (created), serially or not."""
    from jwst_tso_ext.cli.demo import orbit_arguments

    out = Path(out)
    out.mkdir(parents=True)
    truth = Path(asn).with_name(f"{ROOT}_truth.ecsv")
    arguments = ["lrs_tso", str(asn), "--output_dir", str(out), *orbit_arguments(truth)]
    if scheduler:
        arguments.append(f"--scheduler={scheduler}")
    strun = shutil.which("strun") or str(Path(sys.executable).with_name("strun"))
    result = subprocess.run(
        [strun, *arguments], cwd=out, capture_output=True, text=True, timeout=1800
    )
    if result.returncode != 0:
        raise RuntimeError(result.stdout[-3000:] + result.stderr[-3000:])
    return out


def _digest(values):
    array = np.ascontiguousarray(np.asarray(values))
    text = f"{array.dtype.str}{array.shape}".encode()
    return hashlib.sha256(text + array.tobytes()).hexdigest()


def product_digests(out):
    """``{product: {column: sha256}}`` of the products of a run in ``out``."""
    from astropy.table import Table
    from stdatamodels.jwst import datamodels

    out = Path(out)
    digests = {}
    tables = sorted(out.glob(f"{ROOT}*_drift.ecsv"))
    tables += [out / f"{ROOT}_whtlt.ecsv", out / f"{ROOT}_tspec.ecsv"]
    for path in tables:
        table = Table.read(path, format="ascii.ecsv")
        digests[path.name] = {name: _digest(table[name]) for name in table.colnames}
    for path in sorted(out.glob(f"{ROOT}*_x1dints.fits")):
        with datamodels.open(path) as model:
            columns = {}
            for k, spec in enumerate(model.spec):
                for name in spec.spec_table.dtype.names:
                    columns[f"spec[{k}].{name}"] = _digest(spec.spec_table[name])
            digests[path.name] = columns
    return digests


def differences(expected, got):
    """Lines naming each product and column whose digest differs (empty if none)."""
    lines = []
    for product in sorted(set(expected) | set(got)):
        if product not in got:
            lines.append(f"{product}: missing from the run")
            continue
        if product not in expected:
            lines.append(f"{product}: not in the stored digests")
            continue
        for column in sorted(set(expected[product]) | set(got[product])):
            if expected[product].get(column) != got[product].get(column):
                lines.append(f"{product}: column {column} differs")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", default=None, help="e.g. local:2 (default serial)")
    parser.add_argument("--workdir", default=None, help="keep the run here (default temp)")
    parser.add_argument("--update", action="store_true", help=f"write {DIGESTS.name}")
    parser.add_argument("--save", default=None, help="also write the digests to this file")
    args = parser.parse_args(argv)

    import tempfile

    from jwst_tso_ext.crds_cache import build_cache, offline_crds

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.workdir or scratch)
        work.mkdir(parents=True, exist_ok=True)
        cache = build_cache(work / "crds_cache")
        with offline_crds(cache):
            asn = simulate(work / "sim")
            out = run_lrs_tso(asn, work / "out", args.scheduler)
            got = product_digests(out)
    if args.save:
        Path(args.save).write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    if args.update:
        DIGESTS.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        sys.stdout.write(f"wrote {DIGESTS}\n")
        return 0
    lines = differences(json.loads(DIGESTS.read_text()), got)
    sys.stdout.write(("\n".join(lines) if lines else "bit-identical to the stored digests") + "\n")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
