#!/usr/bin/env bash
# Restricted egress for single-node runners (issue 15): the Podman network the operator puts
# runners of `network.egress: Restricted` on, and the host firewall rules that hold it to the
# internet. From that network a runner reaches public addresses and the network's DNS server,
# and nothing else: not the host's own addresses (its services, the Podman API, the gateway),
# not private, shared, loopback or link-local ranges (cloud metadata), nor other runners.
# Replies to connections made to the runner (the gateway's relay) pass.
#
# Needs root (rootful Podman, iptables). Idempotent, and safe to run from several stacks at
# once (a lock); hack/up.sh and the tests run it. The operator refuses to start a Restricted
# runner while the network is missing, so forgetting this is an error, not an open runner.
#
#   hack/podman/egress.sh            # network $OQTO_RESTRICTED_NETWORK (oqto-restricted)
#   OQTO_EGRESS_HOST_PORTS="8090" hack/podman/egress.sh
#                                    # also admit these TCP ports of the host (an LLM endpoint
#                                    # on this machine, such as the demo provider); admitted
#                                    # ports add up across runs until the host restarts
set -euo pipefail

network=${OQTO_RESTRICTED_NETWORK:-oqto-restricted}
chain=OQTO-EGRESS
# RFC 1918, shared (CGNAT), loopback, link-local, "this network", IETF, benchmarking,
# documentation, multicast and reserved ranges.
blocked=(10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16
  0.0.0.0/8 192.0.0.0/24 192.0.2.0/24 198.18.0.0/15 198.51.100.0/24 203.0.113.0/24 224.0.0.0/4
  240.0.0.0/4)

command -v iptables >/dev/null || { echo "egress: iptables is missing (apt-get install iptables)" >&2; exit 1; }
exec 9>/run/oqto-egress.lock
flock 9

if ! podman network exists "$network"; then
  # No IPv6: the rules below are IPv4's. DNS (aardvark) on the network's gateway address.
  podman network create --label dev.oqto.egress=restricted "$network" >/dev/null
fi
subnet=$(podman network inspect "$network" --format '{{range .Subnets}}{{.Subnet}} {{end}}' | awk '{print $1}')
gateway=$(podman network inspect "$network" --format '{{range .Subnets}}{{.Gateway}} {{end}}' | awk '{print $1}')
[[ -n $subnet && -n $gateway ]] || { echo "egress: network $network has no IPv4 subnet" >&2; exit 1; }

# mangle PREROUTING sees every packet a runner sends, before routing decides between the host
# (INPUT) and elsewhere (FORWARD), and before netavark's own accepting rules. The new rules are
# built beside the old ones and swapped in, so running runners are never unguarded.
next="$chain-NEXT"
iptables -t mangle -N "$next" 2>/dev/null || iptables -t mangle -F "$next"
add() { iptables -t mangle -A "$next" "$@"; }
add -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
add -d "$gateway" -p udp --dport 53 -j RETURN
add -d "$gateway" -p tcp --dport 53 -j RETURN
ports_file=/run/oqto-egress.ports
for port in ${OQTO_EGRESS_HOST_PORTS:-}; do
  [[ $port =~ ^[0-9]{1,5}$ ]] || { echo "egress: OQTO_EGRESS_HOST_PORTS: $port is not a port" >&2; exit 1; }
  grep -qx "$port" "$ports_file" 2>/dev/null || echo "$port" >>"$ports_file"
done
if [[ -f $ports_file ]]; then
  while read -r port; do add -m addrtype --dst-type LOCAL -p tcp --dport "$port" -j RETURN; done <"$ports_file"
fi
add -m addrtype --dst-type LOCAL -j DROP
for range in "${blocked[@]}"; do add -d "$range" -j DROP; done
iptables -t mangle -I PREROUTING -s "$subnet" -j "$next"
while iptables -t mangle -D PREROUTING -s "$subnet" -j "$chain" 2>/dev/null; do :; done
if iptables -t mangle -L "$chain" -n >/dev/null 2>&1; then
  iptables -t mangle -F "$chain"
  iptables -t mangle -X "$chain"
fi
iptables -t mangle -E "$next" "$chain"
echo "egress: network $network ($subnet) restricted to public addresses"
