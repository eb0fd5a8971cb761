# Installation and the Debian package: the install rules, servreg(1) and the bash completion,
# and CPack's DEB generator. scripts/package.sh is the one command that uses them all:
#   cmake -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DSERVREG_MANPAGE=ON ...
#   cpack -G DEB
# The files installed beside the binary are in packaging/ (docs/operations.md lists them).

include(GNUInstallDirs)

find_program(SERVREG_HELP2MAN help2man)
if(SERVREG_HELP2MAN)
    set(servreg_manpage_default ON)
else()
    set(servreg_manpage_default OFF)
endif()
option(SERVREG_MANPAGE "Generate and install servreg(1) from --help (needs help2man)"
       ${servreg_manpage_default})
set(SERVREG_PACKAGE_MAINTAINER "servreg maintainers <maintainers@servreg.example>"
    CACHE STRING "Maintainer of the Debian package, as \"Name <address>\"")
set(SERVREG_SYSTEMD_UNIT_DIR "/lib/systemd/system"
    CACHE PATH "Where the systemd unit goes (Debian 12: /lib/systemd/system)")

set(servreg_packaging_dir "${CMAKE_CURRENT_SOURCE_DIR}/packaging")
set(SERVREG_BINARY "${CMAKE_INSTALL_FULL_BINDIR}/servreg")
set(servreg_generated_dir "${CMAKE_CURRENT_BINARY_DIR}/packaging")

# Fixed by the unit's StateDirectory= and LogsDirectory=, and by the Debian convention for
# /etc/default: the maintainer scripts name them too.
set(SERVREG_STATE_DIR "/var/lib/servreg")
set(SERVREG_LOG_DIR "/var/log/servreg")
set(SERVREG_DEFAULT_FILE "/etc/default/servreg")
set(SERVREG_LOGROTATE_FILE "/etc/logrotate.d/servreg")

install(TARGETS servreg RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# What Debian's dh_strip removes beyond CPack's plain strip: the compilers' .comment notes.
install(CODE "
    if(CMAKE_INSTALL_DO_STRIP)
        execute_process(COMMAND \"${CMAKE_STRIP}\" --remove-section=.comment --remove-section=.note
                                \"\$ENV{DESTDIR}${SERVREG_BINARY}\" COMMAND_ERROR_IS_FATAL ANY)
    endif()")

configure_file("${servreg_packaging_dir}/servreg.service.in"
               "${servreg_generated_dir}/servreg.service" @ONLY)
configure_file("${servreg_packaging_dir}/servreg.logrotate.in"
               "${servreg_generated_dir}/servreg.logrotate" @ONLY)
install(FILES "${servreg_generated_dir}/servreg.service" DESTINATION ${SERVREG_SYSTEMD_UNIT_DIR})
install(FILES "${servreg_generated_dir}/servreg.logrotate" DESTINATION /etc/logrotate.d
        RENAME servreg)
# Readable by root only: it may hold the API token, and systemd reads it as root.
install(FILES "${servreg_packaging_dir}/servreg.default" DESTINATION /etc/default RENAME servreg
        PERMISSIONS OWNER_READ OWNER_WRITE)
install(FILES "${servreg_packaging_dir}/servreg.bash-completion"
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME servreg)
install(FILES "${servreg_packaging_dir}/debian/lintian-overrides"
        DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME servreg)

# The Debian version: the project's, and the packaging revision from the newest entry of
# packaging/debian/changelog, which must name the project's version (a release adds an entry).
file(STRINGS "${servreg_packaging_dir}/debian/changelog" servreg_changelog_head LIMIT_COUNT 1)
if(NOT servreg_changelog_head MATCHES "^servreg \\(([^-]+)-([^)]+)\\)")
    message(FATAL_ERROR "packaging/debian/changelog: no \"servreg (VERSION-REVISION)\" first")
endif()
if(NOT CMAKE_MATCH_1 STREQUAL PROJECT_VERSION)
    message(FATAL_ERROR "packaging/debian/changelog names ${CMAKE_MATCH_1}, the project is "
                        "${PROJECT_VERSION}: add an entry for this version")
endif()
set(servreg_debian_revision "${CMAKE_MATCH_2}")
# The changelog's newest date dates the manual page too, so that a rebuild makes the same bytes.
file(STRINGS "${servreg_packaging_dir}/debian/changelog" servreg_changelog_trailer
     REGEX "^ -- " LIMIT_COUNT 1)
string(REGEX REPLACE "^ -- .*  " "" servreg_changelog_date "${servreg_changelog_trailer}")
execute_process(COMMAND date -d "${servreg_changelog_date}" +%s
                OUTPUT_VARIABLE servreg_changelog_epoch OUTPUT_STRIP_TRAILING_WHITESPACE
                COMMAND_ERROR_IS_FATAL ANY)

configure_file("${servreg_packaging_dir}/debian/changelog"
               "${servreg_generated_dir}/changelog.Debian" @ONLY)
file(READ "${CMAKE_CURRENT_SOURCE_DIR}/LICENSE" servreg_license)
string(REGEX MATCH "Copyright \\(c\\) ([^\n]+)" _ "${servreg_license}")
set(SERVREG_COPYRIGHT "${CMAKE_MATCH_1}")
# The MIT text after the copyright line, as a DEP-5 license body: indented, blank lines " .".
string(REGEX REPLACE "^.*Copyright \\(c\\) [^\n]+\n+" "" servreg_license_body
       "${servreg_license}")
string(STRIP "${servreg_license_body}" servreg_license_body)
string(REGEX REPLACE "\n\n" "\n.\n" servreg_license_body "${servreg_license_body}")
string(REGEX REPLACE "\n" "\n " SERVREG_LICENSE_BODY " ${servreg_license_body}")
configure_file("${servreg_packaging_dir}/debian/copyright.in"
               "${servreg_generated_dir}/copyright" @ONLY)
install(FILES "${servreg_generated_dir}/copyright" DESTINATION ${CMAKE_INSTALL_DOCDIR})

# gzip -9n, as Debian wants its changelogs and manual pages: no name or time in the header.
add_custom_command(
    OUTPUT "${servreg_generated_dir}/changelog.Debian.gz"
    COMMAND gzip -9n -c changelog.Debian > changelog.Debian.gz
    DEPENDS "${servreg_generated_dir}/changelog.Debian"
    WORKING_DIRECTORY "${servreg_generated_dir}")
set(servreg_packaging_outputs "${servreg_generated_dir}/changelog.Debian.gz")
install(FILES "${servreg_generated_dir}/changelog.Debian.gz" DESTINATION ${CMAKE_INSTALL_DOCDIR})

if(SERVREG_MANPAGE)
    if(NOT SERVREG_HELP2MAN)
        message(FATAL_ERROR "SERVREG_MANPAGE needs help2man (apt-get install help2man)")
    endif()
    add_custom_command(
        OUTPUT "${servreg_generated_dir}/servreg.1.gz"
        COMMAND ${CMAKE_COMMAND} -E env "SOURCE_DATE_EPOCH=${servreg_changelog_epoch}"
                sh "${servreg_packaging_dir}/man/make-manpage.sh" $<TARGET_FILE:servreg>
                "${servreg_packaging_dir}/man/servreg.h2m" "${servreg_generated_dir}/servreg.1.gz"
        DEPENDS servreg "${servreg_packaging_dir}/man/make-manpage.sh"
                "${servreg_packaging_dir}/man/servreg.h2m"
        COMMENT "Generating servreg(1) from servreg --help"
        VERBATIM)
    list(APPEND servreg_packaging_outputs "${servreg_generated_dir}/servreg.1.gz")
    install(FILES "${servreg_generated_dir}/servreg.1.gz" DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()
add_custom_target(servreg_packaging_files ALL DEPENDS ${servreg_packaging_outputs})

# --- CPack: servreg_VERSION-REVISION_ARCH.deb ----------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME servreg)
set(CPACK_PACKAGE_VENDOR "The servreg authors")
set(CPACK_PACKAGE_CONTACT "${SERVREG_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE "${servreg_debian_revision}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${SERVREG_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Merged with what dpkg-shlibdeps finds; adduser creates the system user in the postinst.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "logrotate")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "small, fast service registry speaking JSON-RPC over HTTP")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "servreg is a service registry daemon: microservices tell it every few seconds
that they are alive (ping), and clients ask it where a service runs
(locate_service, with a glob pattern). It speaks JSON-RPC 2.0 over HTTP, keeps
its state in an SQL database (SQLite built in, PostgreSQL and MySQL/MariaDB for
several registry processes sharing one database) and answers from memory.
.
It is wire-compatible with the pymicroservice and gemstone Python
microservice libraries. The same binary is a command-line client for scripts
and health checks.
.
The package runs it as a systemd service under its own system user, with its
database in /var/lib/servreg and its settings in /etc/default/servreg.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${servreg_packaging_dir}/debian/postinst" "${servreg_packaging_dir}/debian/prerm"
    "${servreg_packaging_dir}/debian/postrm" "${servreg_generated_dir}/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
configure_file("${servreg_packaging_dir}/debian/conffiles.in" "${servreg_generated_dir}/conffiles"
               @ONLY)
include(CPack)
