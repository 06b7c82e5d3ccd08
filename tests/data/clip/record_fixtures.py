"""Record open_clip's own token ids and preprocessed pixels, so the parity tests compare
against open_clip without torch (CI has no torch).

Run from the repository root in an environment with the `clip` extra:

    python tests/data/clip/record_fixtures.py

It writes `tokens.json` (open_clip's ids for every prompt of `prompts()`) and
`crops.npz` (open_clip's transform of every reference photograph, stored as the exact uint8
RGB crop it was computed from; the script checks that the float tensor is re-derived from the
crop bit for bit, so the test can compare our floats with open_clip's).
"""

import json
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def prompts() -> list[str]:
    """A few hundred prompts: marketing phrasing, accents, emoji, CJK and other scripts,
    HTML entities, mojibake, odd whitespace, punctuation, and prompts over 77 tokens."""
    products = [
        "sneaker",
        "coffee mug",
        "leather bag",
        "sunglasses",
        "wrist watch",
        "lipstick",
        "headphones",
        "espresso machine",
        "dog collar",
        "yoga mat",
    ]
    styles = [
        "studio photograph",
        "flat lay",
        "lifestyle shot",
        "close-up",
        "3D render",
        "watercolour illustration",
        "cinematic still",
        "minimalist poster",
    ]
    settings = [
        "on a white background",
        "at golden hour",
        "in a Scandinavian kitchen",
        "with soft shadows",
        "on a marble table",
    ]
    out = []
    for i, product in enumerate(products):
        for j, style in enumerate(styles):
            for k in (0, 2):
                out.append(f"A {style} of a {product} {settings[(i + j + k) % len(settings)]}")
    out += [
        # accents and umlauts
        "Ein Kätzchen schläft auf dem Sofa",
        "Große Straße in München, Übergrößen",
        "ÄÖÜ äöü ß ẞ",
        "café crème brûlée à la carte",
        "Ça coûte très cher, n'est-ce pas ?",
        "niño jalapeño añejo",
        "İstanbul'da ılık bir akşam",
        "Zażółć gęślą jaźń",
        "smørrebrød og rødgrød med fløde",
        "Ελληνική σαλάτα με φέτα",
        "Красная площадь зимой",
        "e\u0301le\u0301gant (combining accents)",
        "ﬁne ﬂowers (ligatures)",
        "Ⅻ roman numeral, ½ cup, ²³ superscripts",
        "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ",
        # emoji
        "a rocket launch at night 🚀🌙",
        "👩‍👩‍👧‍👦 family picnic",
        "thumbs up 👍🏽👍🏿",
        "flags 🇩🇪🇯🇵🇺🇸",
        "🔥🔥🔥 hot deal 🔥🔥🔥",
        "❤️ love ❤",
        "☕ coffee time ☕️",
        "emoji only 😀😃😄😁😆😅😂🤣",
        "keycap 1️⃣2️⃣3️⃣ #️⃣",
        "🧑🏻‍💻 developer at desk",
        # CJK and other scripts
        "東京の夜景、ネオンサイン",
        "一杯の熱いコーヒー",
        "北京烤鸭，非常好吃！",
        "繁體中文的廣告標語",
        "서울의 밤거리 풍경",
        "ภาพถ่ายสินค้าบนพื้นหลังสีขาว",
        "منتج على خلفية بيضاء",
        "מוצר על רקע לבן",
        "सफ़ेद पृष्ठभूमि पर उत्पाद",
        "ქართული ტექსტი",
        "Հայերեն տեքստ",
        "ꦗꦮ script",
        "mixed 日本語 and English text",
        "カタカナとひらがなと漢字",
        "ｶﾀｶﾅ half-width",
        # HTML entities (open_clip unescapes twice)
        "fish &amp; chips, served hot",
        "5 &lt; 6 &gt; 4",
        "&quot;quoted&quot; &#39;single&#39;",
        "non&nbsp;breaking&nbsp;space",
        "double &amp;amp; escaped",
        "&#x1F600; numeric emoji",
        "&eacute;l&eacute;gant &copy; 2026",
        "&unknownentity; stays",
        "AT&T and R&D",
        # mojibake (ftfy repairs it)
        "cafÃ© crÃ¨me",
        "KÃ¤tzchen schlÃ¤ft",
        "â€œsmart quotesâ€\x9d",
        "donâ€™t stop",
        "Ã¼ber",
        "Ã\x83Â© double mojibake",
        "naÃ¯ve faÃ§ade",
        # whitespace and control characters
        "  leading and trailing spaces  ",
        "tabs\tand\nnewlines\r\nhere",
        "many     spaces",
        "zero\u200bwidth\u200bspace",
        "non\u00a0breaking\u00a0space",
        "ideographic\u3000space",
        "soft\u00adhyphen",
        "",
        "   ",
        "\n\t",
        # punctuation, numbers, case, contractions
        "IT'S A SALE! DON'T MISS IT!!!",
        "we're, you've, I'm, they'll, she'd",
        "price: $19.99 (–30%)",
        "2026-11-23T10:00:00Z",
        "email@example.com https://example.com/x?y=1",
        "C++ / C# / .NET",
        "¡¿Qué?!",
        "«guillemets» „Anführungszeichen“",
        "— em dash – en dash",
        "...",
        "#hashtag @mention",
        "1234567890",
        "3.14159265358979323846",
        "supercalifragilisticexpialidocious",
        "Pneumonoultramicroscopicsilicovolcanoconiosis",
        "a" * 200,
        "ab" * 60,
        "MiXeD CaSe TeXt",
        # angle brackets that are not special tokens
        "<b>bold</b> <i>html</i>",
        "<start> <end> <of_text>",
        "<|endoftext|>",
    ]
    long_bases = [
        "an extremely detailed studio photograph of a red sneaker",
        "東京の夜景とネオンサインの写真",
        "🚀 rocket 🌙 moon ⭐ star",
        "Kätzchen, Hündchen & Vögelchen",
    ]
    for k, base in enumerate(long_bases):
        for reps in (5, 12, 30):
            out.append(" ".join([base] * (reps + k)))
    # exactly at the boundary: 75, 76 and 77 word tokens
    out += [" ".join(["photo"] * n) for n in (74, 75, 76, 77)]
    # seeded random strings over Latin, Greek, Cyrillic, CJK, emoji, symbols and whitespace
    rng = np.random.default_rng(11)
    pools = [
        range(0x20, 0x7F),
        range(0xA0, 0x180),
        range(0x370, 0x3FF),
        range(0x400, 0x4FF),
        range(0x3040, 0x30FF),
        range(0x4E00, 0x4FFF),
        range(0x1F300, 0x1F64F),
        range(0x2000, 0x206F),
        range(0xAC00, 0xAD00),
    ]
    for _ in range(40):
        length = int(rng.integers(1, 60))
        chars = [chr(int(rng.choice(pools[int(rng.integers(len(pools)))]))) for _ in range(length)]
        out.append("".join(chars))
    return out


ESCAPED_PROMPTS = [
    "a photo <end_of_text> of a cat",
    "<start_of_text>hello",
    "<END_OF_TEXT> upper case",
    "x<end_of_text>y<start_of_text>z",
]


def main() -> int:
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2
    from PIL import Image

    sys.path.insert(0, str(HERE.parents[2]))
    from retouch_assets.clip.preprocess import PreprocessParams
    from retouch_assets.clip.samples import reference_images

    tokenizer = open_clip.tokenizer._tokenizer
    cases = []
    for prompt in prompts():
        ids = open_clip.tokenize([prompt])[0].tolist()
        while ids and ids[-1] == 0:
            ids.pop()
        full = 2 + len(tokenizer.encode(prompt))
        cases.append({"prompt": prompt, "ids": ids, "truncated": full > 77})
    escaped = []
    for prompt in ESCAPED_PROMPTS:
        ids = open_clip.tokenize([prompt])[0].tolist()
        while ids and ids[-1] == 0:
            ids.pop()
        escaped.append({"prompt": prompt, "open_clip_ids": ids})
    versions = {p: metadata.version(p) for p in ("open-clip-torch", "torch", "ftfy", "regex")}
    (HERE / "tokens.json").write_text(
        json.dumps(
            {
                "recorded_with": versions,
                "context_length": 77,
                "cases": cases,
                "escaped_cases": escaped,
            },
            ensure_ascii=False,
            indent=0,
        )
        + "\n",
        encoding="utf-8",
    )
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    cfg = model.visual.preprocess_cfg
    transform = image_transform_v2(PreprocessCfg(**cfg), is_train=False)
    params = PreprocessParams.from_config(cfg)
    mean = np.asarray(params.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(params.std, dtype=np.float32)[:, None, None]
    crops = {}
    for name, image in reference_images():
        tensor = transform(image).numpy()
        crop = np.rint((tensor * std + mean) * 255).astype(np.uint8).transpose(1, 2, 0)
        rebuilt = (crop.transpose(2, 0, 1).astype(np.float32) / np.float32(255) - mean) / std
        if not np.array_equal(rebuilt, tensor):
            raise SystemExit(f"{name}: the crop does not rebuild open_clip's tensor exactly")
        crops[name] = crop
        assert Image.fromarray(crop).size == (params.size, params.size)
    np.savez_compressed(HERE / "crops.npz", **crops)
    print(f"{len(cases)} + {len(escaped)} prompts, {len(crops)} crops recorded in {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
