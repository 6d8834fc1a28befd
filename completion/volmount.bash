# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion of volmount(8): commands, their options and the global options.
# tests/integration/test-install.sh checks these lists against `volmount COMMAND --help`.

_volmount() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="attach detach path list status host-up check repair gc monitor host-down"
	local global="--state-dir --base-dir --run-dir --config --timeout --path-scheme --json --help --version"
	local common="--json --help --version"
	local cmd="" i

	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--state-dir | --base-dir | --run-dir | --config | --timeout | --path-scheme) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]} && break ;;
		esac
	done

	case $prev in
	--state-dir | --base-dir | --run-dir | --export)
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		return ;;
	--config | --metrics)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return ;;
	--path-scheme)
		mapfile -t COMPREPLY < <(compgen -W "volmount nova" -- "$cur")
		return ;;
	--type)
		mapfile -t COMPREPLY < <(compgen -W "bind sshfs glusterfs nfs cifs quobyte cephfs" -- "$cur")
		return ;;
	--timeout | --volume | --owner | --option | --interval)
		COMPREPLY=()
		return ;;
	esac

	local words
	case $cmd in
	"") if [[ $cur == -* ]]; then words=$global; else words=$commands; fi ;;
	attach) words="--type --export --volume --owner --option $common" ;;
	detach) words="--type --export --volume --owner $common" ;;
	path) words="--type --export $common" ;;
	monitor) words="--interval --metrics --repair $common" ;;
	*) words=$common ;;
	esac
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -F _volmount volmount
