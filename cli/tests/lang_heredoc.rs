//! End-to-end heredocs in RUN and COPY: what ends up in the image.

mod common;

use common::{context, Kiln};

#[test]
fn run_heredocs_scripts_tabs_quoting_shebangs_and_several_per_line() {
    let k = Kiln::new();
    let df = "FROM busybox\n\
ARG NAME=world\n\
ENV GREETING=hello\n\
RUN <<EOF\n\
echo line1 > /h1\n\
echo \"$GREETING $NAME\" >> /h1\n\
EOF\n\
RUN <<-EOF\n\
\techo tabbed > /h2\n\
\t\techo still >> /h2\n\
\tEOF\n\
RUN cat <<'EOF' > /quoted && cat <<EOF2 > /unquoted\n\
$GREETING $NAME\n\
EOF\n\
$GREETING $NAME\n\
EOF2\n\
RUN <<EOF\n\
#!/bin/awk -f\n\
BEGIN { print \"from awk\" > \"/h3\" }\n\
EOF\n\
RUN awk '{ print \"stdin:\" $0 }' <<EOF > /h4\n\
piped\n\
EOF\n\
RUN <<EOF 3<<IN awk -f -\n\
BEGIN { getline l < \"/proc/self/fd/3\"; print \"fd3:\" l > \"/h5\" }\n\
EOF\n\
on fd 3\n\
IN\n\
RUN cat <<A > /a && cat <<-B > /b\n\
alpha\n\
A\n\
\tbeta\n\
\tB\n";
    let ctx = context(&[("Dockerfile", df)]);
    k.build_ok(ctx.path(), "hd:run", &[]);
    let out = k.sh(
        "hd:run",
        "cat /h1; echo --; cat /h2; echo --; cat /quoted /unquoted; echo --; cat /h3 /h4 /h5; echo --; cat /a /b",
    );
    assert_eq!(
        out,
        "line1\nhello world\n--\ntabbed\nstill\n--\n$GREETING $NAME\nhello world\n--\nfrom awk\nstdin:piped\nfd3:on fd 3\n--\nalpha\nbeta\n",
        "image contents"
    );
}

#[test]
fn copy_heredocs_content_modes_and_expansion() {
    let k = Kiln::new();
    let df = "FROM busybox\n\
ARG NAME=world\n\
COPY <<EOF /etc/x.conf\n\
key=$NAME\n\
EOF\n\
COPY <<'EOF' /etc/q.conf\n\
key=$NAME\n\
EOF\n\
COPY --chmod=755 <<EOF /bin/x\n\
#!/bin/sh\n\
echo from-x\n\
EOF\n\
COPY <<A <<B /multi/\n\
one\n\
A\n\
two\n\
B\n";
    let ctx = context(&[("Dockerfile", df)]);
    k.build_ok(ctx.path(), "hd:copy", &[]);
    let out = k.sh(
        "hd:copy",
        "cat /etc/x.conf /etc/q.conf; stat -c '%a %u:%g' /etc/x.conf /bin/x; /bin/x; cat /multi/A /multi/B",
    );
    assert_eq!(
        out,
        "key=world\nkey=$NAME\n644 0:0\n755 0:0\nfrom-x\none\ntwo\n"
    );
}
