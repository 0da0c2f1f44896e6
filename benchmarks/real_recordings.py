"""Real recordings: windows cut from the waveforms ObsPy ships, clustered; what separates and what does not.

The files are ObsPy's own example and test data (in the installed package, nothing is downloaded). What
each one holds, and how that is known:

  local earthquakes   BW.UH1-UH4, 2010-05-27 16:24-16:28 UTC: the data of ObsPy's network coincidence trigger
                      tutorial, "four local events. Two are easily recognizable (Ml 1-2), the other two can
                      only be detected with well adjusted trigger settings (Ml <= 0)".
  distant earthquakes II.TLY.00.BHZ, 2011-03-11 05:47-05:58 UTC, starts a minute after the Tohoku earthquake
                      (05:46:24 UTC, 30 degrees away: iasp91 P at 05:52:30); .KONO.0.B0Z, 2001-01-13
                      17:45-17:50 UTC, minutes after the El Salvador earthquake (17:33:32 UTC, 83 degrees:
                      P at 17:45:49). Windows whose trigger comes after P are counted as the earthquake's.
  noise               IU.ANMO.00.BHZ, 2010-02-27 06:30-06:40 UTC (ObsPy's FDSN test data): it ends before the
                      P of the Maule earthquake (06:34 UTC, 78 degrees: P at 06:46:05) reaches ANMO; CA.STS2
                      and CA.0438, 2011-02-15 10:21-11:21 UTC, 200 Hz: ObsPy's relative-calibration test data,
                      two sensors side by side recording the same ground motion; no event is known in them.
  unknown             NZ.CRLZ.10.HHZ (2009-09-04, ObsPy's response-removal test data), NL.HGN.00.BHZ
                      (2003-05-29, its miniSEED test file): what they hold is not documented.

Also given, to show that a bad file is named and skipped: a horizontal component (no *Z channel), a 10 s
snippet (shorter than the taper, the LTA's warm-up and one window) and a GSE2 file with a wrong checksum.

The cutting options are chosen once, from the recordings' sampling, not from the clustering: 20 Hz (the
lowest rate in the set) and a 1-6 Hz band, where every recording chain is flat (the 20 Hz channels' own
anti-alias filters, and the decimation from 100 and 200 Hz to 20 Hz, whose pass band ends at 6.3 Hz: at
--fmax 9 the top of the band measured the decimation filter, and windows clustered by sampling rate); the
STA/LTA settings of ObsPy's tutorial (0.5 s, 10 s, on 3.5, off 1), since the defaults' on 15 finds one or
two events in these short files; --margin 50 (a 10 s taper: a plain file has no neighbouring days). The
run is the default `gpuclust run` with --k 3 (three kinds of recording), and the same with diagonal
covariances, for several seeds. The same recordings are also cut in the default band (50 Hz, 3-20 Hz),
where only those sampled at 50 Hz or more can go, and clustered once.

    python benchmarks/real_recordings.py [--seeds 0,1,2] [--out benchmarks/results/real_recordings.json]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (path inside the obspy package, trace id, kind, for a distant earthquake the iasp91 P arrival at the station)
RECORDINGS = [
    ("signal/tests/data/BW.UH1._.SHZ.D.2010.147.cut.slist.gz", "BW.UH1..SHZ", "local earthquake", None),
    ("signal/tests/data/BW.UH2._.SHZ.D.2010.147.cut.slist.gz", "BW.UH2..SHZ", "local earthquake", None),
    ("signal/tests/data/BW.UH3._.SHZ.D.2010.147.cut.slist.gz", "BW.UH3..SHZ", "local earthquake", None),
    ("signal/tests/data/BW.UH4._.EHZ.D.2010.147.cut.slist.gz", "BW.UH4..EHZ", "local earthquake", None),
    ("realtime/tests/data/II.TLY.BHZ.SAC", "II.TLY.00.BHZ", "distant earthquake", "2011-03-11T05:52:30"),
    ("io/seisan/tests/data/2001-01-13-1742-24S.KONO__004", ".KONO.0.B0Z", "distant earthquake",
     "2001-01-13T17:45:49"),
    ("clients/fdsn/tests/data/dataselect_example.mseed", "IU.ANMO.00.BHZ", "noise", None),
    ("signal/tests/data/ref_STS2", "CA.STS2..EHZ", "noise", None),
    ("signal/tests/data/ref_unknown", "CA.0438..EHZ", "noise", None),
    ("signal/tests/data/CRLZ.HHZ.10.NZ.SAC", "NZ.CRLZ.10.HHZ", "unknown", None),
    ("io/mseed/tests/data/test.mseed", "NL.HGN.00.BHZ", "unknown", None),
]
BAD = [  # (path, what the skip says)
    ("signal/tests/data/BW.UH3._.SHN.D.2010.147.cut.slist.gz", "no *Z channel"),
    ("signal/tests/data/BW.UH1._.EHZ.D.2010.147.a.slist.gz", "no stretch of data long enough"),
    ("io/gse2/tests/data/GRF_031102_0225.GSE.wrong_chksum", "not a waveform file ObsPy can read"),
]
# The tutorial's four events at the UH stations (its coincidence and similarity trigger times): a window of a
# local recording is the earthquake's when it triggers within 5 s of one, else it is another, unknown trigger.
LOCAL_EVENTS = ("2010-05-27T16:24:33.19", "2010-05-27T16:25:26.71", "2010-05-27T16:27:01.26",
                "2010-05-27T16:27:30.49")
CUT = ["--fs", "20", "--fmin", "1", "--fmax", "6", "--sta", "0.5", "--lta", "10", "--on", "3.5", "--off", "1",
       "--margin", "50"]
CUT_DEFAULT_BAND = CUT[6:]  # the default 50 Hz and 3-20 Hz: the 20 and 40 Hz recordings are skipped, named
RUN = ["--k", "3", "--no-explore", "--device", "cpu", "-q"]
# The default mixture (full covariances), and diagonal ones: 82 windows are few for a full 12 x 12 covariance
# per cluster. --tsne-max-points only shortens the t-SNE picture; the labels do not depend on it.
VARIANTS = {"default": [], "diag": ["--covariance-type", "diag"]}
FAST = ["--tsne-max-points", "10"]
KINDS = ("local earthquake", "distant earthquake", "noise", "unknown")


def obspy_data(path: str) -> str:
    import obspy

    return os.path.join(os.path.dirname(obspy.__file__), path)


def inputs() -> list[str]:
    return [obspy_data(p) for p, *_ in RECORDINGS] + [obspy_data(p) for p, _ in BAD]


def invoke(*args) -> str:
    from click.testing import CliRunner

    from gpuclust_cli.commands import cli

    r = CliRunner().invoke(cli, [str(a) for a in args])
    if r.exit_code != 0:
        raise SystemExit(f"gpuclust {args[0]} failed:\n{r.output}")
    return r.output


def kind_of(row: dict) -> str:
    """A window's kind from its trace id and trigger time: a local recording's window away from the tutorial's
    events is unknown, a distant earthquake's window triggered before P is noise."""
    from obspy import UTCDateTime

    t = UTCDateTime(row["dt_on"])
    for _, tid, kind, p_arrival in RECORDINGS:
        if row["id"] == tid:
            if kind == "local earthquake" and not any(-1 <= t - UTCDateTime(e) <= 5 for e in LOCAL_EVENTS):
                return "unknown"
            if p_arrival and t < UTCDateTime(p_arrival):
                return "noise"
            return kind
    raise KeyError(row["id"])


def read_labels(run_dir: str) -> list[dict]:
    import csv

    with open(os.path.join(run_dir, "labels.csv")) as fh:
        return list(csv.DictReader(fh))


def side_by_side_pairs(labels: list[dict]) -> list[tuple[str, str]]:
    """(cluster, cluster) of the windows the two side-by-side sensors triggered within a second of each other."""
    from obspy import UTCDateTime

    b = [(UTCDateTime(r["dt_on"]), r["cluster"]) for r in labels if r["id"] == "CA.0438..EHZ"]
    out = []
    for r in labels:
        if r["id"] == "CA.STS2..EHZ":
            t = UTCDateTime(r["dt_on"])
            near = [c for u, c in b if abs(u - t) < 1.0]
            if len(near) == 1:
                out.append((r["cluster"], near[0]))
    return out


def summarise(labels: list[dict]) -> dict:
    """Counts of kind x cluster and trace id x cluster, and the checks of what separates."""
    by_kind = collections.defaultdict(collections.Counter)
    by_id = collections.defaultdict(collections.Counter)
    for r in labels:
        by_kind[kind_of(r)][r["cluster"]] += 1
        by_id[r["id"]][r["cluster"]] += 1
    out = {"clusters_by_kind": {k: dict(sorted(by_kind[k].items())) for k in KINDS if by_kind[k]},
           "clusters_by_trace": {k: dict(sorted(v.items())) for k, v in sorted(by_id.items())}}
    distant = by_kind["distant earthquake"]
    if distant:
        home = distant.most_common(1)[0][0]
        out["distant_in_their_main_cluster"] = f"{distant[home]} of {sum(distant.values())}"
        out["others_in_that_cluster"] = {k: f"{by_kind[k][home]} of {sum(by_kind[k].values())}"
                                         for k in KINDS if k != "distant earthquake" and by_kind[k]}
    pairs = side_by_side_pairs(labels)
    out["side_by_side_pairs_same_cluster"] = f"{sum(a == b for a, b in pairs)} of {len(pairs)}"
    return out


def experiment(tmp: str, name: str, cut: list, seeds, variants) -> dict:
    """Cut every recording with `cut`, then cluster them with --k 3, once per variant and seed."""
    import csv

    data = os.path.join(tmp, f"{name}.h5")
    said = invoke("spectrograms", *inputs(), "-o", data, *cut)
    with open(data + ".csv") as fh:
        cat = list(csv.DictReader(fh))
    here = obspy_data("")
    with open(data + ".skipped.csv") as fh:
        skipped = {os.path.relpath(r["unit"], here): r["reason"].split(": ", 1)[1].replace(here, "")
                   for r in csv.DictReader(fh)}
    windows = collections.Counter(r["id"] for r in cat)
    runs = {}
    for variant in variants:
        for seed in seeds:
            out = os.path.join(tmp, f"{name}-{variant}-{seed}")
            invoke("run", data, *RUN, *VARIANTS[variant], *FAST, "--seed", seed, "-o", out)
            s = runs.setdefault(variant, {})[seed] = summarise(read_labels(out))
            print(f"{name} band, {variant}, seed {seed}: {json.dumps(s['clusters_by_kind'])}; "
                  f"side-by-side pairs in the same cluster: {s['side_by_side_pairs_same_cluster']}", flush=True)
    return {
        "commands": {"spectrograms": "gpuclust spectrograms FILES -o real.h5 " + " ".join(cut),
                     **{f"run, {v}": " ".join(["gpuclust run real.h5", *RUN, *VARIANTS[v], "--seed SEED"])
                        for v in variants}},
        "windows": len(cat),
        "windows_by_kind": dict(collections.Counter(kind_of(r) for r in cat)),
        "files": [{"path": p, "id": tid, "kind": kind, "windows": windows.get(tid, 0)}
                  for p, tid, kind, _ in RECORDINGS],
        "skipped": skipped,
        "spectrograms_said": said.strip().splitlines()[-1].replace(tmp + os.sep, ""),
        "seeds": runs,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2", help="Seeds of the runs in the common band (in the default band: "
                    "the first).")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "real_recordings.json"))
    a = ap.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    t0, load0 = time.time(), os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        doc = {"what": "windows cut from the recordings ObsPy ships, clustered by the default run with --k 3",
               "obspy": __import__("obspy").__version__,
               "common band": experiment(tmp, "common", CUT, seeds, list(VARIANTS)),
               "default band": experiment(tmp, "default", CUT_DEFAULT_BAND, seeds[:1], ["default"])}
    doc.update(seconds=round(time.time() - t0, 1), load_average={"start": load0, "end": os.getloadavg()},
               date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(doc, fh, indent=1)
    print(f"wrote {a.out} in {doc['seconds']} s")


if __name__ == "__main__":
    main()
