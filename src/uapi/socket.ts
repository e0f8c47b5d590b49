// Where a daemon serves its interface's configuration: the path wg(8), wg-quick and wireguard-go agree on
// (docs/configuration-protocol.md). The daemon, the CLI, the demo and the tests all take it from here.

export const SOCKET_DIR = "/var/run/wireguard";

export function socketPath(ifname: string): string {
  return `${SOCKET_DIR}/${ifname}.sock`;
}
