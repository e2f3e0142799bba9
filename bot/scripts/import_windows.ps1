# smc-chatops: install the SMC client on this ECS instance and register it as a migration source.
#
# Cloud Assistant runs this as System (RunCommand, RunPowerShellScript, EnableParameter=true). The
# activation code arrives as the command parameters accessTokenId and accessTokenCode: Cloud
# Assistant puts the values in when it runs the script, so the code is never part of what the bot stores
# or posts. Never write the code to the output.
#
# The SMC client's non-interactive flags are not documented. This default follows the client's manual
# install (download go2aliyun_client, unpack it under C:\smc, start it in the background with the
# activation code). If your client version needs other flags or another download address, copy this
# file, change it, and point SMC_BOT_IMPORT_SCRIPT_WINDOWS at the copy.
$ErrorActionPreference = "Stop"
$ProgressPreference = "SilentlyContinue"

$SmcHome = "C:\smc"
$ClientUrl = "https://p2v-tools.oss-cn-hangzhou.aliyuncs.com/smc/go2aliyun_client_windows_x86_64.zip"

New-Item -ItemType Directory -Force -Path $SmcHome | Out-Null
Set-Location $SmcHome
Write-Output "[smc-chatops] downloading the SMC client"
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12
Invoke-WebRequest -Uri $ClientUrl -OutFile "$SmcHome\smc_client.zip" -UseBasicParsing
Expand-Archive -Path "$SmcHome\smc_client.zip" -DestinationPath $SmcHome -Force
$client = Get-ChildItem -Path $SmcHome -Recurse -Filter "go2aliyun_client.exe" | Select-Object -First 1
if ($null -eq $client) {
    Write-Error "[smc-chatops] the SMC client package did not contain go2aliyun_client.exe"
    exit 4
}
Set-Location $client.DirectoryName

# A client left running by an earlier import keeps the old registration: stop it first.
& $client.FullName --abort 2>&1 | Out-Null

Write-Output "[smc-chatops] registering this server with Server Migration Center"
$arguments = @("--noenter", "--accesstokenid={{accessTokenId}}", "--accesstokencode={{accessTokenCode}}", "--daemon")
$process = Start-Process -FilePath $client.FullName -ArgumentList $arguments -Wait -PassThru -NoNewWindow `
    -RedirectStandardOutput "$SmcHome\smc-chatops-import.log" -RedirectStandardError "$SmcHome\smc-chatops-import.err"
Get-Content "$SmcHome\smc-chatops-import.log" -Tail 20 | Where-Object { $_ -notmatch "code" }
if ($process.ExitCode -ne 0) {
    Write-Error "[smc-chatops] the SMC client exited with $($process.ExitCode); its logs are in $($client.DirectoryName)\Logs"
    exit $process.ExitCode
}
Write-Output "[smc-chatops] the SMC client runs in the background; the source comes online in SMC shortly"
