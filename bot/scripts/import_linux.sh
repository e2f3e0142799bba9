#!/bin/bash
# smc-chatops: install the SMC client on this ECS instance and register it as a migration source.
#
# Cloud Assistant runs this as root (RunCommand, RunShellScript, EnableParameter=true). The activation
# code arrives as the command parameters accessTokenId and accessTokenCode: Cloud Assistant puts
# the values in when it runs the script, so the code is never part of what the bot stores or posts.
# Never echo the code, never `set -x`.
#
# The SMC client's non-interactive flags are not documented. This default follows the client's manual
# install (download go2aliyun_client, unpack it under /smc, run it in the background with the activation
# code). If your client version needs other flags or another download address, copy this file, change
# it, and point SMC_BOT_IMPORT_SCRIPT_LINUX at the copy.
set -eu
umask 077

SMC_HOME=/smc
CLIENT_URL_X86_64="https://p2v-tools.oss-cn-hangzhou.aliyuncs.com/smc/go2aliyun_client_linux_x86_64.tar.gz"
CLIENT_URL_ARM64="https://p2v-tools.oss-cn-hangzhou.aliyuncs.com/smc/go2aliyun_client_linux_arm64.tar.gz"

case "$(uname -m)" in
  x86_64) url="$CLIENT_URL_X86_64" ;;
  aarch64 | arm64) url="$CLIENT_URL_ARM64" ;;
  *) echo "[smc-chatops] unsupported architecture $(uname -m)" >&2; exit 2 ;;
esac

mkdir -p "$SMC_HOME"
cd "$SMC_HOME"
echo "[smc-chatops] downloading the SMC client for $(uname -m)"
if command -v curl >/dev/null 2>&1; then
  curl -fsSL --retry 3 -o smc_client.tar.gz "$url"
elif command -v wget >/dev/null 2>&1; then
  wget -q -O smc_client.tar.gz "$url"
else
  echo "[smc-chatops] neither curl nor wget is installed: install one of them and retry the import" >&2
  exit 3
fi
tar xzf smc_client.tar.gz
client_dir="$(find "$SMC_HOME" -maxdepth 1 -type d -name 'go2aliyun_client*' | sort | tail -n 1)"
if [ -z "$client_dir" ] || [ ! -f "$client_dir/go2aliyun_client" ]; then
  echo "[smc-chatops] the SMC client package did not contain go2aliyun_client" >&2
  exit 4
fi
cd "$client_dir"
chmod +x go2aliyun_client

# A client left running by an earlier import keeps the old registration: stop it first.
./go2aliyun_client --abort >/dev/null 2>&1 || true

echo "[smc-chatops] registering this server with Server Migration Center"
status=0
./go2aliyun_client --noenter --accesstokenid='{{accessTokenId}}' --accesstokencode='{{accessTokenCode}}' \
  --daemon > "$SMC_HOME/smc-chatops-import.log" 2>&1 || status=$?
tail -n 20 "$SMC_HOME/smc-chatops-import.log" | grep -v -i 'code' || true
if [ "$status" -ne 0 ]; then
  echo "[smc-chatops] the SMC client exited with $status; its logs are in $client_dir/Logs" >&2
  exit "$status"
fi
echo "[smc-chatops] the SMC client runs in the background; the source comes online in SMC shortly"
