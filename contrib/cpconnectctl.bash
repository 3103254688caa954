# bash completion for cpconnectctl(8): commands, their arguments, options.
_cpconnectctl()
{
	local cur prev cmd i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-s|-c|--socket)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	esac
	cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s|-c|--socket) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	case $cmd in
	'')
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W '-j --json -s --socket' -- "$cur"))
		else
			COMPREPLY=($(compgen -W 'status stats reload log metrics cache' \
			    -- "$cur"))
		fi
		;;
	log)
		[ "$prev" = log ] &&
		    COMPREPLY=($(compgen -W 'verbose brief' -- "$cur"))
		;;
	cache)
		[ "$prev" = cache ] &&
		    COMPREPLY=($(compgen -W 'list flush' -- "$cur"))
		;;
	esac
}
complete -F _cpconnectctl cpconnectctl
