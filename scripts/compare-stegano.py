#!/usr/bin/env python3
"""Python's `stegano` (lsb.hide) against photocloud on the same 120 KB message and
the same 1000x872 photo, in one run, median of several runs each.

Like for like: lsb.hide decodes the cover and hides the message, returning an
image in memory; photocloud's counterpart is decode + embed (from
`photocloud bench stego --size native`). With saving the image, it is
decode + embed + encode. The whole `photocloud stego embed` process (start-up,
reading, writing the file) is timed too, against the whole `stegano-lsb hide -f`
process (Python's start-up, import, decode, hide, encode, write), as a user runs each:
with a raw 256-bit key (`hex:`), like for like, since stegano uses no key at all,
and with a passphrase, which photocloud stretches with scrypt (32 MiB, about
100 ms here by design: it is what makes guessing a passphrase expensive).
Usage: compare-stegano.py PHOTOCLOUD_BIN [--json FILE]"""
import json, os, random, shutil, string, subprocess, sys, tempfile, time

def median(fn, runs=5):
    times = []
    for _ in range(runs):
        start = time.perf_counter(); fn(); times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]

def main():
    if len(sys.argv) < 2:
        sys.exit("usage: compare-stegano.py PHOTOCLOUD_BIN [--json FILE]")
    binary = sys.argv[1]
    json_path = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    try:
        from stegano import lsb
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "stegano"], check=True)
        from stegano import lsb
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    cover = os.path.join(root, "Fixtures", "covers", "hubble_deep_field.png")
    message = "".join(random.Random(1).choice(string.ascii_letters) for _ in range(120_000))
    work = tempfile.mkdtemp(prefix="stegano-bench-")
    payload = os.path.join(work, "message.txt")
    with open(payload, "w") as f:
        f.write(message)

    hide = median(lambda: lsb.hide(cover, message))
    hide_save = median(lambda: lsb.hide(cover, message).save(os.path.join(work, "stegano.png")))

    bench_json = os.path.join(work, "bench.json")
    subprocess.run([binary, "bench", "stego", "--cover", cover, "--size", "native", "--payload-bytes", "120000",
                    "--repeats", "7", "--json", bench_json], check=True, stdout=subprocess.DEVNULL)
    ours = json.load(open(bench_json))

    out = os.path.join(work, "photocloud.png")
    process = median(lambda: subprocess.run([binary, "stego", "embed", "--cover", cover, "--payload", payload,
                                             "--out", out, "--key", "bench"], check=True, stdout=subprocess.DEVNULL))
    raw_key = "hex:" + "5a" * 32
    out_raw = os.path.join(work, "photocloud-raw.png")
    process_raw = median(lambda: subprocess.run([binary, "stego", "embed", "--cover", cover, "--payload", payload,
                                                 "--out", out_raw, "--key", raw_key], check=True, stdout=subprocess.DEVNULL))
    cli = shutil.which("stegano-lsb") or os.path.join(os.path.dirname(sys.executable), "stegano-lsb")
    stegano_process = median(lambda: subprocess.run([cli, "hide", "-i", cover, "-f", payload, "-o", os.path.join(work, "stegano-cli.png")],
                                                    check=True, stdout=subprocess.DEVNULL), runs=3)
    back = os.path.join(work, "back.txt")
    subprocess.run([binary, "stego", "extract", "--in", out, "--out", back, "--key", "bench"], check=True, stdout=subprocess.DEVNULL)
    intact = open(back).read() == message and ours["intact"]
    subprocess.run([binary, "stego", "extract", "--in", out_raw, "--out", back, "--key", raw_key], check=True, stdout=subprocess.DEVNULL)
    intact = intact and open(back).read() == message
    result = {
        "message_bytes": len(message), "cover": "Fixtures/covers/hubble_deep_field.png (1000x872)",
        "stegano_hide_seconds": hide, "stegano_hide_and_save_seconds": hide_save,
        "photocloud_decode_embed_seconds": ours["decode_embed_seconds"],
        "photocloud_decode_embed_encode_seconds": ours["embed_total_seconds"],
        "photocloud_embed_process_seconds": process,
        "speedup_hide": hide / ours["decode_embed_seconds"],
        "speedup_hide_and_save": hide_save / ours["embed_total_seconds"],
        "speedup_whole_process": hide_save / process,
        "stegano_lsb_hide_process_seconds": stegano_process,
        "speedup_process_against_process": stegano_process / process,
        "photocloud_embed_process_raw_key_seconds": process_raw,
        "speedup_process_against_process_raw_key": stegano_process / process_raw,
        "intact": intact,
    }
    print(f"stegano lsb.hide (decode + hide)        {hide * 1000:7.1f} ms")
    print(f"photocloud decode + embed               {ours['decode_embed_seconds'] * 1000:7.1f} ms  = {result['speedup_hide']:.1f}x faster")
    print(f"stegano lsb.hide + save                 {hide_save * 1000:7.1f} ms")
    print(f"photocloud decode + embed + encode      {ours['embed_total_seconds'] * 1000:7.1f} ms  = {result['speedup_hide_and_save']:.1f}x faster")
    print(f"photocloud stego embed (whole process)  {process * 1000:7.1f} ms  = {result['speedup_whole_process']:.1f}x faster than hide + save")
    print(f"stegano-lsb hide -f (whole process)     {stegano_process * 1000:7.1f} ms")
    print(f"photocloud stego embed, raw key         {process_raw * 1000:7.1f} ms  = {result['speedup_process_against_process_raw_key']:.1f}x faster, process against process")
    print(f"photocloud stego embed, passphrase      {process * 1000:7.1f} ms  = {result['speedup_process_against_process']:.1f}x faster, process against process")
    print(f"intact: {intact}")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=2)

if __name__ == "__main__":
    main()
