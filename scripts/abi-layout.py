#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
#
# abi-layout.py ABI.md -o OUT.h [--include-dir DIR] [-v]
#
# Turn the tables of the normative ABI document into C tables that
# selftests/host/abi_layout.c checks against the headers, so that the
# document and the headers cannot drift apart silently.
#
# Recognised tables (GitHub markdown: a header row, then a |---| row):
#   | struct | field | offset | size | [writer |]
#       -> abi_layout_rows[]: offsetof/sizeof against the listed numbers.
#          An unknown struct or field makes the C compile fail, on purpose.
#   | <anything> | value | ... |   or   | <anything> | nr | ... |
#       -> abi_const_rows[] for every row whose first cell is a PVKIT_*
#          name and whose second cell is a constant C expression.  A table
#          that mixes PVKIT_* rows with other rows is an error (a misspelt
#          name would otherwise be skipped); a table without any PVKIT_*
#          row (e.g. "| item | value |") is descriptive and ignored.
# Prose such as "(`struct pvkit_info`, 384 bytes)",
# "`struct pvkit_dev_entry` (512 bytes)" or "`req_size = 128`
# (`struct pvkit_blk_req`)", also inside ``` blocks -> abi_size_rows[].
#
# Exits non-zero with a message naming the line on anything malformed, and
# when no layout or no constant row is found at all.  The output is written
# to a temporary file and renamed, so a failure never leaves a stale table.

import argparse
import ast
import glob
import os
import re
import sys

IDENT = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
PVKIT_CONST = re.compile(r'^PVKIT_[A-Z0-9_]+$')
# An uppercase identifier that is not PVKIT_*: probably a typo.
CONST_LIKE = re.compile(r'^[A-Z][A-Z0-9]*_[A-Z0-9_]+$')
# (regex, group of the struct name, group of the size)
SIZE_PROSE = [
    # (`struct pvkit_info`, 384 bytes)
    (re.compile(r'`?struct (pvkit_[a-z0-9_]+)`?,\s*(\d+) bytes'), 1, 2),
    # `struct pvkit_dev_entry` (512 bytes), also in the ring diagram
    (re.compile(r'`?struct (pvkit_[a-z0-9_]+)`?\s*\((\d+) bytes\)'), 1, 2),
    # `req_size = 128` (`struct pvkit_blk_req`)
    (re.compile(r'(\d+)`?\s*\(`struct (pvkit_[a-z0-9_]+)`\)'), 2, 1),
]
LAYOUT_HEADER = ['struct', 'field', 'offset', 'size']


class AbiError(Exception):
    pass


def cells(line):
    """Split a markdown table row into stripped cells, or None."""
    s = line.strip()
    if not s.startswith('|'):
        return None
    s = s[1:]
    if s.endswith('|'):
        s = s[:-1]
    return [c.strip() for c in s.split('|')]


def unquote(c):
    """Drop surrounding backticks: `PVKIT_FOO` -> PVKIT_FOO."""
    c = c.strip()
    if len(c) >= 2 and c[0] == '`' and c[-1] == '`':
        c = c[1:-1].strip()
    return c


def is_separator(row):
    return bool(row) and all(re.fullmatch(r':?-{3,}:?', c) for c in row)


def parse_int(text, where):
    try:
        return int(unquote(text), 0)
    except ValueError:
        raise AbiError(f'{where}: "{text}" is not an integer')


# Only integer literals and these operators may appear in a constant.
_OPS = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant,
        ast.LShift, ast.RShift, ast.BitOr, ast.BitAnd, ast.BitXor,
        ast.Add, ast.Sub, ast.Mult, ast.USub, ast.UAdd, ast.Invert)


def eval_const(text, where):
    """Evaluate a C integer constant expression such as 1 << 3 or -2."""
    expr = unquote(text)
    # C integer suffixes (U, L, UL, ULL, ...) do not change the value.
    py = re.sub(r'(?<=[0-9a-fA-F])(?:[uU][lL]{0,2}|[lL]{1,2}[uU]?)\b', '',
                expr)
    try:
        tree = ast.parse(py, mode='eval')
    except SyntaxError:
        raise AbiError(f'{where}: "{expr}" is not a constant expression')
    for node in ast.walk(tree):
        if not isinstance(node, _OPS) or \
           (isinstance(node, ast.Constant) and type(node.value) is not int):
            raise AbiError(f'{where}: "{expr}" is not a constant integer '
                           'expression')
    value = eval(compile(tree, where, 'eval'), {'__builtins__': {}})
    if not -(1 << 63) <= value < (1 << 64):
        raise AbiError(f'{where}: "{expr}" does not fit 64 bits')
    return expr, value


def parse_layout_table(path, start, head, rows, layout, seen):
    if len(head) not in (4, 5) or (len(head) == 5 and head[4] != 'writer'):
        raise AbiError(f'{path}:{start}: layout table header {head} '
                       'not understood')
    for ln, r in rows:
        where = f'{path}:{ln}'
        if len(r) != len(head):
            raise AbiError(f'{where}: expected {len(head)} cells, '
                           f'got {len(r)}')
        st, fld = unquote(r[0]), unquote(r[1])
        if not IDENT.match(st) or not IDENT.match(fld):
            raise AbiError(f'{where}: bad struct/field "{r[0]}" / "{r[1]}"')
        off = parse_int(r[2], where)
        size = parse_int(r[3], where)
        if off < 0 or size <= 0:
            raise AbiError(f'{where}: bad offset/size {off}/{size}')
        key = f'{st}.{fld}'
        if key in seen:
            raise AbiError(f'{where}: {key} already listed at line '
                           f'{seen[key]}')
        seen[key] = ln
        layout.append((st, fld, off, size, ln))


def parse_const_table(path, rows, consts, seen):
    if not any(PVKIT_CONST.match(unquote(r[0])) for _, r in rows):
        return  # descriptive table
    for ln, r in rows:
        where = f'{path}:{ln}'
        name = unquote(r[0])
        if not PVKIT_CONST.match(name):
            kind = 'misspelt?' if CONST_LIKE.match(name) else \
                   'not a PVKIT_* name'
            raise AbiError(f'{where}: "{r[0]}" in a constant table '
                           f'({kind})')
        if len(r) < 2:
            raise AbiError(f'{where}: no value cell')
        expr, value = eval_const(r[1], where)
        if name in seen:
            raise AbiError(f'{where}: {name} already listed at line '
                           f'{seen[name]}')
        seen[name] = ln
        consts.append((name, expr, value, ln))


def check_overlaps(path, layout):
    """Fields of one struct listed in ABI.md must not overlap."""
    by_struct = {}
    for st, fld, off, size, ln in layout:
        by_struct.setdefault(st, []).append((off, size, fld, ln))
    for st, fields in by_struct.items():
        fields.sort()
        for (o1, s1, f1, l1), (o2, _, f2, l2) in zip(fields, fields[1:]):
            if o1 + s1 > o2:
                raise AbiError(f'{path}:{l2}: {st}.{f2} at {o2} overlaps '
                               f'{st}.{f1} (line {l1}, {o1}+{s1})')


def parse(path):
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')

    layout, consts, sizes = [], [], []
    seen_fields, seen_consts = {}, {}
    in_code = False
    i = 0
    while i < len(lines):
        line = lines[i]
        for rx, g_name, g_size in SIZE_PROSE:
            for m in rx.finditer(line):
                sizes.append((m.group(g_name), int(m.group(g_size)), i + 1))
        if line.lstrip().startswith('```'):
            in_code = not in_code
        head = None if in_code else cells(line)
        sep = cells(lines[i + 1]) if i + 1 < len(lines) else None
        if head is None or not is_separator(sep):
            i += 1
            continue

        start = i + 1
        head = [h.lower() for h in head]
        rows = []
        i += 2
        while i < len(lines) and cells(lines[i]) is not None:
            rows.append((i + 1, cells(lines[i])))
            i += 1

        if head[:4] == LAYOUT_HEADER:
            parse_layout_table(path, start, head, rows, layout, seen_fields)
        elif head[0] == 'struct':
            # a layout table with a mangled header must not vanish
            raise AbiError(f'{path}:{start}: table starts with "struct" but '
                           f'its header {head} is not | struct | field | '
                           'offset | size |')
        elif len(head) >= 2 and head[1] in ('value', 'nr'):
            parse_const_table(path, rows, consts, seen_consts)

    if in_code:
        raise AbiError(f'{path}: unterminated ``` block')
    if not layout:
        raise AbiError(f'{path}: no "| struct | field | offset | size |" '
                       'rows found')
    if not consts:
        raise AbiError(f'{path}: no PVKIT_* constant rows found')
    check_overlaps(path, layout)
    return layout, consts, sizes


def c_str(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def c_ll(v):
    """A C expression of type long long with value v (two's complement)."""
    if v == -(1 << 63):
        return '(-0x7fffffffffffffffLL - 1)'
    if v < 0:
        return f'(-{-v}LL)'
    if v >= 1 << 63:
        return f'(long long){v:#x}ULL'
    return f'{v}LL'


def emit(out, src, layout, consts, sizes, headers):
    o = [
        '/* SPDX-License-Identifier: GPL-2.0-only */',
        f'/* Generated by scripts/abi-layout.py from {src}. Do not edit. */',
        '#ifndef PVKIT_ABI_LAYOUT_TABLE_H',
        '#define PVKIT_ABI_LAYOUT_TABLE_H',
        '',
        '#include <stddef.h>',
    ]
    o += [f'#include <pvkit/{h}>' for h in headers]
    o += [
        '',
        'struct abi_layout_row {',
        '\tconst char *name;\t/* struct.field */',
        '\tint line;\t\t/* in ABI.md */',
        '\tsize_t offset, size;\t/* from the headers */',
        '\tsize_t want_offset, want_size; /* from ABI.md */',
        '};',
        '',
        'struct abi_const_row {',
        '\tconst char *name;',
        '\tconst char *expr;\t/* as written in ABI.md */',
        '\tint line;',
        '\tlong long value;\t/* from the headers */',
        '\tlong long want;\t\t/* from ABI.md */',
        '};',
        '',
        'struct abi_size_row {',
        '\tconst char *name;',
        '\tint line;',
        '\tsize_t size, want;',
        '};',
        '',
        'static const struct abi_layout_row abi_layout_rows[] = {',
    ]
    for st, fld, off, size, ln in layout:
        o += [f'\t{{ {c_str(st + "." + fld)}, {ln},',
              f'\t  offsetof(struct {st}, {fld}),',
              f'\t  sizeof(((struct {st} *)0)->{fld}), {off}, {size} }},']
    o += ['};', '', 'static const struct abi_const_row abi_const_rows[] = {']
    for name, expr, value, ln in consts:
        o += [f'\t{{ {c_str(name)}, {c_str(expr)}, {ln},',
              f'\t  (long long)({name}), {c_ll(value)} }},']
    o += ['};', '', 'static const struct abi_size_row abi_size_rows[] = {']
    for st, size, ln in sizes:
        o.append(f'\t{{ {c_str(st)}, {ln}, sizeof(struct {st}), {size} }},')
    if not sizes:
        o.append('\t{ NULL, 0, 0, 0 },')
    o += [
        '};',
        '',
        f'#define ABI_LAYOUT_NR_ROWS\t{len(layout)}',
        f'#define ABI_CONST_NR_ROWS\t{len(consts)}',
        f'#define ABI_SIZE_NR_ROWS\t{len(sizes)}',
        '',
        '#endif /* PVKIT_ABI_LAYOUT_TABLE_H */',
    ]

    tmp = f'{out}.tmp.{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write('\n'.join(o) + '\n')
    os.replace(tmp, out)


def main():
    ap = argparse.ArgumentParser(
        description='Generate the ABI layout/constant tables from ABI.md.')
    ap.add_argument('abi_md')
    ap.add_argument('-o', '--output', required=True)
    ap.add_argument('--include-dir',
                    help='directory holding pvkit/*.h (default: include/ '
                         'next to ABI.md)')
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()

    inc = args.include_dir or os.path.join(
        os.path.dirname(os.path.abspath(args.abi_md)), 'include')
    headers = sorted(os.path.basename(h) for h in
                     glob.glob(os.path.join(inc, 'pvkit', '*.h')))
    if not headers:
        print(f'abi-layout: error: no headers in {inc}/pvkit',
              file=sys.stderr)
        return 1
    try:
        layout, consts, sizes = parse(args.abi_md)
    except (AbiError, OSError) as e:
        print(f'abi-layout: error: {e}', file=sys.stderr)
        return 1
    emit(args.output, args.abi_md, layout, consts, sizes, headers)
    if args.verbose:
        print(f'abi-layout: {len(layout)} layout rows, {len(consts)} '
              f'constants, {len(sizes)} struct sizes', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
