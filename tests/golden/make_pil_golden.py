"""Writes pil_golden.json: reference outputs of Pillow for the C# image pipeline tests.

Run with any Python that has Pillow (e.g. Debian's python3-pil):  python3 make_pil_golden.py
The C# tests (tests/Csr.Tests/Vision/PilGoldenTests.cs) compare Csr.Models.Vision against these
numbers and skip with a message when the file is absent.
"""
import base64, io, json, random
import PIL
from PIL import Image

rng = random.Random(1234)
MEAN = (0.48145466, 0.4578275, 0.40821073)


def rand_image(w, h, mode="RGB"):
    bands = len(mode)
    data = bytes(rng.randrange(256) for _ in range(w * h * bands))
    return Image.frombytes(mode, (w, h), data)


def smooth_image(w, h):
    # gradients + a few blobs: a JPEG-friendly picture
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * 255) // max(1, w - 1), (y * 255) // max(1, h - 1), ((x + y) * 97) % 256)
    return img


def b64(b):
    return base64.b64encode(b).decode()


cases = []
for (iw, ih, ow, oh, flt) in [
    (2, 2, 4, 4, 3), (7, 5, 3, 11, 3), (13, 9, 5, 4, 3), (17, 10, 40, 23, 3),
    (50, 37, 14, 14, 3), (64, 3, 9, 3, 3), (3, 64, 3, 7, 3), (31, 29, 31, 12, 3),
    (20, 20, 7, 7, 2), (9, 6, 21, 13, 2),
]:
    im = rand_image(iw, ih)
    out = im.resize((ow, oh), resample=flt)
    cases.append({"filter": flt, "in_w": iw, "in_h": ih, "in": b64(im.tobytes()),
                  "out_w": ow, "out_h": oh, "out": b64(out.tobytes())})


def expand2square(pil_img, background_color):
    width, height = pil_img.size
    if width == height:
        return pil_img
    elif width > height:
        result = Image.new(pil_img.mode, (width, width), background_color)
        result.paste(pil_img, (0, (width - height) // 2))
        return result
    else:
        result = Image.new(pil_img.mode, (height, height), background_color)
        result.paste(pil_img, ((height - width) // 2, 0))
        return result


def hf_shortest_edge(w, h, size):
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def center_crop(img, ch, cw):
    w, h = img.size
    top, left = (h - ch) // 2, (w - cw) // 2
    return img.crop((left, top, left + cw, top + ch))


pipelines = []
for (iw, ih, size) in [(23, 15, 16), (15, 40, 12), (30, 30, 8), (11, 5, 20)]:
    im = rand_image(iw, ih)
    pad = expand2square(im, tuple(int(x * 255) for x in MEAN))
    w, h = hf_shortest_edge(*pad.size, size)
    res = pad.resize((w, h), resample=3)
    crop = center_crop(res, size, size)
    pipelines.append({"in_w": iw, "in_h": ih, "in": b64(im.tobytes()), "size": size,
                      "out": b64(crop.tobytes())})

decodes = []
for name, img, fmt, kw in [
    ("rgb.png", rand_image(9, 7), "PNG", {}),
    ("rgba.png", rand_image(6, 5, "RGBA"), "PNG", {}),
    ("grey.png", rand_image(8, 3, "L"), "PNG", {}),
    ("rgb.jpg", smooth_image(24, 16), "JPEG", {"quality": 90}),
    ("grey.jpg", smooth_image(16, 16).convert("L"), "JPEG", {"quality": 90}),
    ("cmyk.jpg", smooth_image(16, 8).convert("CMYK"), "JPEG", {"quality": 95}),
    ("palette.png", smooth_image(10, 6).convert("P", palette=Image.ADAPTIVE, colors=16), "PNG", {}),
    ("palette_trns.png", smooth_image(10, 6).convert("P", palette=Image.ADAPTIVE, colors=16), "PNG", {"transparency": 3}),
    ("la.png", rand_image(5, 4, "LA"), "PNG", {}),
    ("progressive.jpg", smooth_image(20, 14), "JPEG", {"quality": 85, "progressive": True}),
    ("444.jpg", smooth_image(20, 14), "JPEG", {"quality": 85, "subsampling": 0}),
    ("odd_420.jpg", smooth_image(17, 11), "JPEG", {"quality": 80, "subsampling": 2}),
]:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    data = buf.getvalue()
    rgb = Image.open(io.BytesIO(data)).convert("RGB")
    decodes.append({"name": name, "file": b64(data), "w": rgb.size[0], "h": rgb.size[1], "rgb": b64(rgb.tobytes())})

with open("pil_golden.json", "w") as f:
    json.dump({"pillow": PIL.__version__, "resize": cases,
               "pipeline": pipelines, "decode": decodes}, f, indent=1)
print("wrote pil_golden.json")
