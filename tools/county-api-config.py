#!/usr/bin/env python3
# Writes a box configuration for the county tests and benchmarks: CONFIG with its [county.api]
# replaced by one on 127.0.0.1, any free port (the box writes it to STATE_DIR/api.port), with
# KEY_FILE, and summaries every SUMMARY_EVERY. Prints the station id.
#   tools/county-api-config.py CONFIG OUT KEY_FILE [SUMMARY_EVERY]
import re, sys

source, out, key_file = sys.argv[1:4]
summary_every = sys.argv[4] if len(sys.argv) > 4 else "1h"
with open(source, encoding="utf-8") as file:
    text = file.read()
# Drop a [county.api] table (up to the next table header) and any summary_every of [county].
text = re.sub(r"(?ms)^\[county\.api\]\n.*?(?=^\[|\Z)", "", text)
if re.search(r"(?m)^\[county\]\s*$", text):
    text = re.sub(r"(?m)^summary_every\s*=.*\n", "", text)
    text = re.sub(r"(?m)^\[county\]\s*$", f'[county]\nsummary_every = "{summary_every}"', text, count=1)
else:
    text += f'\n[county]\nsummary_every = "{summary_every}"\n'
text += f'\n[county.api]\nlisten = "127.0.0.1:0"\nkey_file = "{key_file}"\n'
with open(out, "w", encoding="utf-8") as file:
    file.write(text)
station = text[text.index("[station]"):]
print(re.search(r'(?m)^id\s*=\s*"(\d{10})"', station).group(1))
