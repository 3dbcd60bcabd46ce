#!/usr/bin/env bash
# Refresh the es/pt/fr catalogues after strings change (developers only: needs GNU gettext).
# Plain `makemessages --no-obsolete` would drop the allauth entries; the merge puts them back.
# Afterwards translate what it lists, remove "#, fuzzy" after checking, and run it again
# with --compile to rebuild the .mo files.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--compile" ]; then
  for l in es pt fr; do msgfmt --check -o locale/$l/LC_MESSAGES/django.mo locale/$l/LC_MESSAGES/django.po; done
  exit 0
fi
AA=$(.venv/bin/python -c 'import allauth, pathlib; print(pathlib.Path(allauth.__file__).parent / "locale")')
tmp=$(mktemp -d)
for l in es pt fr; do cp locale/$l/LC_MESSAGES/django.po "$tmp/django-$l.old.po"; done
DJANGO_DEBUG=1 .venv/bin/python manage.py makemessages -l es -l pt -l fr --ignore='.venv/*' \
  --ignore='node_modules/*' --ignore='tests/*' --ignore='bench/*' --no-obsolete
for l in es pt fr; do
  case $l in pt) src=pt_BR ;; *) src=$l ;; esac
  po=locale/$l/LC_MESSAGES/django.po
  msgmerge --quiet --no-fuzzy-matching "$tmp/django-$l.old.po" "$AA/en/LC_MESSAGES/django.po" \
    | msgattrib --no-obsolete -o "$tmp/allauth-$l.po"
  msgcat --use-first "$po" "$tmp/allauth-$l.po" "$AA/$src/LC_MESSAGES/django.po" \
    | msgattrib --no-obsolete -o "$po"
done
for l in es pt fr; do
  echo "== $l: untranslated or fuzzy =="
  msgattrib --untranslated locale/$l/LC_MESSAGES/django.po | grep -c '^msgid' || true
  msgattrib --only-fuzzy locale/$l/LC_MESSAGES/django.po | grep -c '^msgid' || true
done
