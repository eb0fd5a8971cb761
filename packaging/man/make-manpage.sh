#!/bin/sh
# Writes servreg(1), gzipped, from what the built binary prints: help2man turns `servreg --help`
# into the synopsis and the options; this script adds a section on the client commands from
# each `servreg COMMAND --help` and the environment variables from the options, so that none
# of them can drift from --help. servreg.h2m beside it holds the prose that --help has no room
# for (description, exit status, signals, files).
# Usage: make-manpage.sh BINARY INCLUDE OUTPUT.1.gz   (SOURCE_DATE_EPOCH dates the page)
set -eu

binary=$1 include=$2 output=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$binary" --help >"$work/help"
# The client commands, from the footer of the daemon's --help ("servreg ping NAME HOST PORT").
commands=$(sed -n '/^Client commands/,$p' "$work/help" | grep -o 'servreg [a-z][a-z-]*' |
    cut -d' ' -f2 | awk '!seen[$0]++')
[ -n "$commands" ] || { echo "make-manpage: no client commands in $binary --help" >&2; exit 1; }
for command in $commands; do
    "$binary" "$command" --help >"$work/help.$command"
done

# What help2man reads as `servreg --help`: without the first line (the page's NAME already says
# it) and the client commands' footer (a section of its own below); --threads loses the build
# machine's thread count as its default.
cat >"$work/servreg" <<WRAPPER
#!/bin/sh
if [ "\$1" = --help ]; then
    sed -e '1{/^servreg:/d}' -e '/^Client commands/,\$d' \\
        -e 's/^\\(  --threads [A-Z]*\\)=[0-9]*\\(.*\\)\$/\\1\\2 (default: one per hardware thread)/' \\
        "$work/help"
else
    exec "$binary" "\$@"
fi
WRAPPER
chmod 755 "$work/servreg"

# items FILE HEADING: the entries under "HEADING:" in a CLI11 help, one "NAME<tab>TEXT" a line.
items() {
    awk -v heading="$2:" '
        $0 == heading { inside = 1; next }
        inside && /^$/ { inside = 0 }
        inside && /^  [^ ]/ {
            if (name != "") print name "\t" text
            line = substr($0, 3)
            split_at = match(line, /  +/)
            if (split_at) { name = substr(line, 1, split_at - 1); text = substr(line, split_at + RLENGTH) }
            else { name = line; text = "" }
            sub(/ REQUIRED$/, "", name)
            next
        }
        inside && /^   / { sub(/^ +/, ""); text = (text == "" ? $0 : text " " $0) }
        END { if (name != "") print name "\t" text }
    ' "$1"
}

# roff TEXT: escaped for a man page.
roff() {
    printf '%s\n' "$1" | sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

# entry "NAME<tab>TEXT": a tagged paragraph, the option in bold and its argument in italics.
entry() {
    name=${1%%"	"*} text=${1#*"	"}
    flag=${name%% *} argument=
    [ "$flag" = "$name" ] || argument=${name#* }
    echo .TP
    case $flag in
        -*) printf '\\fB%s\\fR' "$(roff "$flag" | sed 's/,/\\fR, \\fB/')" ;;
        *) printf '\\fI%s\\fR' "$(roff "$flag")" ;;
    esac
    if [ -n "$argument" ]; then
        placeholder=${argument%%=*} default=
        [ "$placeholder" = "$argument" ] || default="=${argument#*=}"
        printf ' \\fI%s\\fR%s' "$(roff "$placeholder")" "$(roff "$default")"
    fi
    printf '\n%s\n' "$(roff "$text")"
}

tab=$(printf '\t')
first=$(echo "$commands" | head -n 1)
# The options that every command shares, listed once.
items "$work/help.$first" Options | grep -v '^-h,--help' >"$work/common"
for command in $commands; do
    items "$work/help.$command" Options | grep -Fx -f "$work/common" >"$work/common.next" || true
    mv "$work/common.next" "$work/common"
done

{
    echo '[CLIENT COMMANDS]'
    echo 'With a command as its first argument, servreg is a client of a running registry,'
    printf '%s\n' 'for scripts and health checks.' \
        '\fBservreg\fR \fICOMMAND\fR \fB\-\-help\fR describes one.'
    for command in $commands; do
        help="$work/help.$command"
        usage=$(sed -n 's/^Usage: //p' "$help")
        echo .TP
        printf '\\fB%s\\fR\n' "$(roff "$usage")"
        roff "$(head -n 1 "$help")."
        items "$help" Positionals >"$work/positionals"
        items "$help" Options | grep -v '^-h,--help' | grep -Fvx -f "$work/common" \
            >"$work/own" || true
        if [ -s "$work/positionals" ] || [ -s "$work/own" ]; then
            echo .RS
            while IFS= read -r item; do entry "$item"; done <"$work/positionals"
            while IFS= read -r item; do entry "$item"; done <"$work/own"
            echo .RE
        fi
    done
    echo .PP
    echo 'Every client command takes:'
    while IFS= read -r item; do entry "$item"; done <"$work/common"
    echo

    # Each daemon option as SERVREG_<NAME>, and the client's variables from "(also SERVREG_X)",
    # one entry for a variable that both read.
    echo '[ENVIRONMENT]'
    echo 'Every daemon option can come from the environment; the command line wins.'
    {
        items "$work/help" Options | while IFS= read -r item; do
            name=${item%%"$tab"*} flag=${name%% *}
            case $flag in -h,--help | --version) continue ;; esac
            variable=SERVREG_$(echo "${flag#--}" | tr 'a-z-' 'A-Z_')
            if [ "$flag" = "$name" ]; then
                printf '%s\t1 %s\n' "$variable" "$flag"
            else
                printf '%s\t2 %s\n' "$variable" "$flag"
            fi
        done
        for command in $commands; do items "$work/help.$command" Options; done |
            sed -n 's/^\(--[a-z-]*\).*(also \(SERVREG_[A-Z_]*\)).*/\2\t3 \1/p'
    } | awk -F'\t' '!seen[$0]++' | awk -F'\t' '
        { split($2, kind, " "); if (!($1 in text)) order[++n] = $1
          if (kind[1] == 1)
              text[$1] = "As \\fB" kind[2] "\\fR when 1, true or yes; 0, false or no leave it off"
          else if (kind[1] == 2) text[$1] = "As \\fB" kind[2] "\\fR"
          else if ($1 in text) text[$1] = text[$1] ", for the daemon and the client commands"
          else text[$1] = "As \\fB" kind[2] "\\fR of the client commands" }
        END { for (i = 1; i <= n; i++) { v = order[i]; t = text[v]; gsub(/-/, "\\-", t)
              printf ".TP\n\\fB%s\\fR\n%s.\n", v, t } }'
    echo
} >"$work/generated.h2m"

name=$(sed -n '1s/^servreg: //p' "$work/help")
help2man --no-info --section 1 --manual 'User Commands' --name "${name:-service registry}" \
    --include "$work/generated.h2m" --include "$include" --output "$work/servreg.1" \
    "$work/servreg"
# -n: no name or time stamp in the gzip header, so that the same page makes the same bytes.
gzip -9n -c "$work/servreg.1" >"$output"
