#!/usr/bin/env bats
# The user's first lesson with images of their own (docs/tutorial.md): change a running web
# server's page with exec, commit it with an author and a message, look at images and
# history, run the new image, copy a new page in with cp, commit again, run that.
# The busybox image stands in for nginx: `httpd -f -p 80 -h /usr/share/nginx/html` serves
# the same directory.

load helpers.containers

HTTPD=(httpd -f -p 80 -h /usr/share/nginx/html)

# page CONTAINER: the page its web server serves, fetched inside the container.
page() {
	berth exec "$1" wget -qO- http://127.0.0.1/
}

# serves CONTAINER TEXT: true once the container's server answers with TEXT.
serves() {
	[ "$(page "$1" 2>/dev/null)" = "$2" ]
}

@test "lesson: exec changes a page, commit -a -m, history, run the commit, cp a page in, commit 2.0" {
	run_berth run -d --network none --name web $IMG "${HTTPD[@]}"
	wait_until 10 serves web '<h1>Welcome to nginx!</h1>'
	run_berth exec web sh -c 'echo "hello!" > /usr/share/nginx/html/index.html'
	wait_until 5 serves web 'hello!'

	# docker commit prints the new image's id, and the container keeps running.
	run_berth commit -a user1 -m "first commit" web commit_test:1.0
	[[ $output =~ ^sha256:[0-9a-f]{64}$ ]] || die "commit printed: $output"
	local id1=$output
	run_berth inspect -f '{{.State.Status}}' web
	assert_equal "$output" "running"
	serves web 'hello!' || die "web stopped serving after the commit"

	run_berth images --format '{{.Repository}}:{{.Tag}} {{.ID}}' commit_test
	assert_equal "$output" "commit_test:1.0 ${id1:7:12}"
	run_berth image inspect -f '{{.Author}}|{{.Comment}}|{{.Parent}}' commit_test:1.0
	assert_equal "$output" "user1|first commit|$(berth image inspect -f '{{.Id}}' $IMG)"
	run_berth image inspect -f '{{json .Config.Cmd}}' commit_test:1.0
	assert_equal "$output" '["httpd","-f","-p","80","-h","/usr/share/nginx/html"]'
	# history: the new layer on top, with the container's command, its size (the 7 bytes
	# of "hello!\n") and the message.
	run_berth history --no-trunc --format '{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}' commit_test:1.0
	local first
	first=$(head -n1 <<<"$output")
	assert_equal "$first" "$id1|${HTTPD[*]}|7B|first commit"
	assert_equal "$(wc -l <<<"$output")" "2"

	# The new image serves the changed page.
	run_berth run -d --network none --name web1 commit_test:1.0
	wait_until 10 serves web1 'hello!'

	# A page from the host, copied into the running container, then committed as 2.0.
	echo 'hi!' >"$TEST_DIR/index.html"
	run_berth cp "$TEST_DIR/index.html" web1:/usr/share/nginx/html/index.html
	assert_equal "$output" ""
	wait_until 5 serves web1 'hi!'
	run_berth diff web1
	assert_equal "$output" "C /usr
C /usr/share
C /usr/share/nginx
C /usr/share/nginx/html
C /usr/share/nginx/html/index.html"
	run_berth commit -a user1 -m "second commit" web1 commit_test:2.0
	local id2=$output
	run_berth history --format '{{.CreatedBy}}|{{.Comment}}' commit_test:2.0
	assert_equal "$output" "${HTTPD[*]}|second commit
${HTTPD[*]}|first commit
|Imported from -"
	run_berth image inspect -f '{{.Parent}}' commit_test:2.0
	assert_equal "$output" "$id1"
	run_berth run -d --network none --name web2 commit_test:2.0
	wait_until 10 serves web2 'hi!'
	# Each image kept its own page.
	run_berth run --rm --network none commit_test:1.0 cat /usr/share/nginx/html/index.html
	assert_equal "$output" "hello!"
	run_berth images -q commit_test
	assert_equal "$(sort <<<"$output")" "$(printf '%s\n' "${id1:7:12}" "${id2:7:12}" | sort)"
}

@test "lesson: the committed image on a published port, read with curl (when run -p works)" {
	# Ports arrive with the network commands; probe whether this build publishes them.
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	run_berth run -d --network none --name web $IMG "${HTTPD[@]}"
	wait_until 10 serves web '<h1>Welcome to nginx!</h1>'
	echo 'hello!' >"$TEST_DIR/index.html"
	run_berth cp "$TEST_DIR/index.html" web:/usr/share/nginx/html/
	run_berth commit -a user1 -m "first commit" web commit_test:1.0
	run berth run -d -p "127.0.0.1:$port:80" --name pub commit_test:1.0
	if [ "$status" -ne 0 ]; then
		[[ $output == *"not supported"* ]] || die "run -p failed: $output"
		skip "this build does not publish ports yet: $output"
	fi
	wait_until 10 sh -c "[ \"\$(curl -s http://127.0.0.1:$port/)\" = 'hello!' ]"
	run curl -s "http://127.0.0.1:$port/"
	assert_equal "$output" "hello!"
}
