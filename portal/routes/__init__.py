"""The portal's routes, one router per area: sign-in, files, documents on demand, worklist,
uploads, applications, status. Each route stands on the dependencies of `portal.session`."""
