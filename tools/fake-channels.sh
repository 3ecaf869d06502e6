#!/usr/bin/env bash
# Try the channels without a Meta or Telegram account: a local fake of the
# providers' APIs (tests/fakes/channels.mjs) that Chat4All delivers to, and
# a way to play a WhatsApp or Telegram user writing in.
#
#   eval "$(tools/fake-channels.sh start)"   # the fake, and the settings for make run
#   make run                                    # (again, if it was running: make stop first)
#   tools/fake-channels.sh whatsapp 5511999990001 "Maria" "Olá, tudo bem?"
#   tools/fake-channels.sh telegram 4200001 "Ivan" "Privet"
#   tools/fake-channels.sh whatsapp-photo 5511999990001 "Maria" photo.jpg "a caption"
#   tools/fake-channels.sh sent               # what Chat4All sent to the providers
#   tools/fake-channels.sh stop
#
# Conversations that start on a channel belong to CHAT4ALL_CHANNEL_OWNER
# (default: the user "support" — sign up as that user in the web UI).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR=${VAR:-$ROOT/var}
PORT=${PORT:-8080}
FAKE_PORT=${FAKE_PORT:-8099}
PIDFILE=$VAR/run/fake-channels.pid
META_SECRET=${CHAT4ALL_META_APP_SECRET:-demo-meta-secret}
TG_SECRET=${CHAT4ALL_TELEGRAM_WEBHOOK_SECRET:-demo-telegram-secret}
B="http://127.0.0.1:$PORT"

case "${1:-}" in
start)
	mkdir -p "$VAR/run" "$VAR/log"
	if ! { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }; then
		FAKE_WHATSAPP_ID=1065550001 setsid node "$ROOT/tests/fakes/channels.mjs" "$FAKE_PORT" \
			</dev/null >>"$VAR/log/fake-channels.log" 2>&1 &
		echo $! >"$PIDFILE"
	fi
	cat <<EOF
export CHAT4ALL_GRAPH_BASE_URL=http://127.0.0.1:$FAKE_PORT CHAT4ALL_TELEGRAM_BASE_URL=http://127.0.0.1:$FAKE_PORT
export CHAT4ALL_OUTBOUND_ALLOW=127.0.0.1/32:$FAKE_PORT
export CHAT4ALL_WHATSAPP_PHONE_NUMBER_ID=1065550001 CHAT4ALL_WHATSAPP_TOKEN=demo-whatsapp-token
export CHAT4ALL_TELEGRAM_BOT_TOKEN=123456:demo-telegram-token CHAT4ALL_TELEGRAM_WEBHOOK_SECRET=$TG_SECRET
export CHAT4ALL_META_APP_SECRET=$META_SECRET CHAT4ALL_META_VERIFY_TOKEN=demo-verify-token
export CHAT4ALL_CHANNEL_OWNER=\${CHAT4ALL_CHANNEL_OWNER:-support} CHAT4ALL_PUBLIC_URL=$B
EOF
	;;
stop)
	[ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null || true
	rm -f "$PIDFILE"
	;;
whatsapp)	# ADDRESS NAME TEXT: a WhatsApp user writes in (a signed webhook)
	id="wamid.DEMO$(date +%s%N)"
	body=$(jq -cn --arg from "$2" --arg name "$3" --arg text "$4" --arg id "$id" \
		'{object:"whatsapp_business_account",entry:[{id:"WABA",changes:[{field:"messages",value:{
		  messaging_product:"whatsapp",metadata:{display_phone_number:"15550001",phone_number_id:"1065550001"},
		  contacts:[{profile:{name:$name},wa_id:$from}],
		  messages:[{from:$from,id:$id,timestamp:(now|floor|tostring),type:"text",text:{body:$text}}]}}]}]}')
	sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$META_SECRET" | awk '{print $NF}')
	curl -fsS "$B/v1/webhooks/whatsapp" -H 'Content-Type: application/json' \
		-H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body"
	echo
	;;
whatsapp-photo)	# ADDRESS NAME FILE [CAPTION]: a WhatsApp user sends a photo (Chat4All fetches it)
	media=$(date +%s%N)
	case "$4" in *.png) mime=image/png ;; *.webp) mime=image/webp ;; *) mime=image/jpeg ;; esac
	base64 -w0 "$4" | jq -Rc --arg id "$media" --arg mime "$mime" '{id:$id,mime:$mime,b64:.}' |
		curl -fsS "http://127.0.0.1:$FAKE_PORT/_media" --data-binary @- >/dev/null
	body=$(jq -cn --arg from "$2" --arg name "$3" --arg media "$media" --arg mime "$mime" \
		--arg caption "${5:-}" --arg id "wamid.DEMO$(date +%s%N)" \
		'{object:"whatsapp_business_account",entry:[{id:"WABA",changes:[{field:"messages",value:{
		  messaging_product:"whatsapp",metadata:{display_phone_number:"15550001",phone_number_id:"1065550001"},
		  contacts:[{profile:{name:$name},wa_id:$from}],
		  messages:[{from:$from,id:$id,timestamp:(now|floor|tostring),type:"image",
		             image:{id:$media,mime_type:$mime,caption:$caption}}]}}]}]}')
	sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$META_SECRET" | awk '{print $NF}')
	curl -fsS "$B/v1/webhooks/whatsapp" -H 'Content-Type: application/json' \
		-H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body"
	echo
	;;
telegram)	# CHAT_ID NAME TEXT: a Telegram user writes to the bot
	body=$(jq -cn --argjson chat "$2" --arg name "$3" --arg text "$4" \
		'{update_id:(now|floor),message:{message_id:(now*1000|floor),date:(now|floor),
		  chat:{id:$chat,type:"private"},from:{id:$chat,first_name:$name},text:$text}}')
	curl -fsS "$B/v1/webhooks/telegram" -H 'Content-Type: application/json' \
		-H "X-Telegram-Bot-Api-Secret-Token: $TG_SECRET" --data-binary "$body"
	echo
	;;
sent)
	curl -fsS "http://127.0.0.1:$FAKE_PORT/_sent" | jq .
	;;
*)
	sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
